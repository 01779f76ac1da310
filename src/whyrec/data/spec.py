"""Data specifications shared by the CLI and saved configs: ``synthetic``, ``movielens:PATH``,
``csv:INTERACTIONS[,USERS,ITEMS]`` (CSV or Parquet files), ``shards:FOLDER[,USERS,ITEMS]`` (Parquet
shards streamed in record batches, see :mod:`whyrec.data.stream`).

Files are read as :mod:`whyrec.data.options` says: options follow a ``?``, for example
``csv:ratings.csv,,movies.csv?user=userId&item=movieId&min_rating=3.5&multi=genres:|``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from whyrec.data.dataset import Dataset
from whyrec.data.options import DataOptions, split_spec
from whyrec.errors import DataError, ParameterError

if TYPE_CHECKING:
    from whyrec.data.synthetic import SyntheticData

SPEC_HELP = (
    "synthetic | movielens:PATH | csv:INTERACTIONS[,USERS,ITEMS] | shards:FOLDER[,USERS,ITEMS], "
    "with reading options after '?' (user=, item=, rating=, timestamp=, title=, min_rating=, multi=FIELD:SEP, "
    "sep=, on_duplicate=error|drop|count, min_tag_count=)"
)
_MOVIELENS_OPTIONS = {"min_rating", "on_duplicate", "min_tag_count"}


def load_spec(spec: str, *, attributes: bool = True, seed: int = 0, **overrides: Any) -> Dataset:
    """Load the dataset a spec string names (see the module docstring).

    `overrides` replace the spec's reading options by name (``min_rating=1``).
    """
    base, options = split_spec(spec)
    options = replace(options, **overrides) if overrides else options
    kind, _, rest = base.partition(":")
    kind = kind.strip().lower()
    if kind == "synthetic":
        _refuse(options, set(), "synthetic data")
        data = synthetic_from_spec(base, seed=seed)
        return data.dataset if attributes else _without_attributes(data.dataset)
    if kind == "movielens":
        from whyrec.data.movielens import load_movielens

        if not rest:
            raise DataError("movielens needs a directory: movielens:PATH")
        _refuse(options, _MOVIELENS_OPTIONS, "movielens (it knows GroupLens' columns)")
        return load_movielens(
            rest,
            attributes=attributes,
            min_rating=3 if options.min_rating is None else options.min_rating,
            on_duplicate=options.on_duplicate,
            min_tag_count=options.min_tag_count,
        )
    if kind in ("csv", "parquet", "files", "shards"):
        paths = [p.strip() for p in rest.split(",")] if rest else []
        if not paths or not paths[0] or len(paths) > 3:
            raise DataError(f"{kind} needs 1 to 3 comma-separated paths: {kind}:INTERACTIONS[,USERS,ITEMS]")
        paths += [""] * (3 - len(paths))
        users, items = (p or None for p in paths[1:])
        if not attributes:
            users = items = None
        if kind == "shards":
            from whyrec.data.stream import stream_dataset

            _refuse(options, {"user_col", "item_col"}, "shards")
            return stream_dataset(paths[0], users, items, user_col=options.user_col, item_col=options.item_col)
        return Dataset.from_files(paths[0], users, items, options=options)
    raise DataError(f"unknown data spec {spec!r}; expected {SPEC_HELP}")


def _refuse(options: DataOptions, allowed: set[str], what: str) -> None:
    extra = sorted(options.changed() - allowed)
    if extra:
        raise ParameterError(f"{what} takes no {', '.join(extra)} option(s)")


def synthetic_from_spec(spec: str, *, seed: int = 0) -> SyntheticData:
    """The generated data (with its planted drivers) that a ``synthetic[:...]`` spec names."""
    from whyrec.data.synthetic import synthetic

    kind, _, rest = spec.partition(":")
    if kind.strip().lower() != "synthetic":
        raise DataError(f"{spec!r} is not a synthetic data spec")
    params = _parse_params(rest)
    segmented = params.pop("segments", "0") not in ("0", "false", "no")
    chosen_seed = int(params.pop("seed", seed))
    sizes: dict[str, Any] = {k: int(v) for k, v in params.items()}
    return synthetic(seed=chosen_seed, segment_drivers=segmented, **sizes)


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in ("n_users", "n_items", "seed", "segments"):
            raise DataError(f"synthetic options are n_users=N,n_items=N,seed=N,segments=0|1; got {part!r}")
        params[key] = value
    return params


def _without_attributes(dataset: Dataset) -> Dataset:
    from dataclasses import replace

    import scipy.sparse as sp

    empty_u = sp.csr_matrix(dataset.user_attributes.shape, dtype="float32")
    empty_i = sp.csr_matrix(dataset.item_attributes.shape, dtype="float32")
    return replace(dataset, user_attributes=empty_u, item_attributes=empty_i)
