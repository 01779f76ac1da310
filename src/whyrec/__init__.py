"""whyrec: recommenders that explain themselves.

``whyrec.select(dataset, budget=120)`` finds the best model for a data set within a time budget
(:func:`whyrec.tuning.select.select`); it is loaded on first use, so that importing whyrec (as the
command line does) stays light.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "select":
        from whyrec.tuning.select import select

        return select
    raise AttributeError(f"module 'whyrec' has no attribute {name!r}")
