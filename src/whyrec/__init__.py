"""whyrec: recommenders that explain themselves.

``whyrec.select(dataset, budget=120)`` finds the best model for a data set within a time budget
(:func:`whyrec.tuning.select.select`); it is loaded on first use, so that importing whyrec (as the
command line does) stays light.
"""

from typing import Any

from whyrec._version import __version__

__all__ = ["__version__", "select"]


def __getattr__(name: str) -> Any:
    if name == "select":
        from whyrec.tuning.select import select

        return select
    raise AttributeError(f"module 'whyrec' has no attribute {name!r}")
