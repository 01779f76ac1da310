"""How to read a user's files: column names, the positive threshold, multi-valued columns, the CSV
separator and what to do with repeated events.

One design, everywhere a file is read: the options live in the data spec, after a ``?``::

    csv:ratings.csv,,movies.csv?user=userId&item=movieId&min_rating=3.5&multi=genres:|
    movielens:data/ml-25m?min_rating=4&min_tag_count=10

The command line's flags (``--user-col userId --min-rating 3.5 --multi-valued genres=|`` ...) are
shorthand that :func:`with_options` writes into the spec, so a run's saved spec repeats it
exactly. Keys: ``user``, ``item``, ``rating``, ``timestamp``, ``title`` (column names),
``min_rating``, ``multi`` (``FIELD:SEP``, repeatable), ``sep`` (``,``, ``;``, ``tab`` ...),
``on_duplicate`` (``error``, ``drop`` or ``count``), ``encoding`` (the files' text encoding,
``utf-8`` by default) and ``min_tag_count`` (MovieLens tags). Values are taken literally: no
percent-decoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from whyrec.errors import ParameterError

OnDuplicate = Literal["error", "drop", "count"]
ON_DUPLICATE = ("error", "drop", "count")
_COLUMNS = {
    "user": "user_col",
    "item": "item_col",
    "rating": "rating_col",
    "timestamp": "timestamp_col",
    "title": "title_col",
}
_SEPARATORS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


@dataclass(frozen=True)
class DataOptions:
    """Options for reading interactions and attribute tables (see the module docstring).

    Parameters
    ----------
    user_col, item_col : str
        The user and item key columns, in the interactions and in the users / items tables.
    rating_col, timestamp_col, title_col : str
        Optional columns: the rating (thresholded by `min_rating`), the event time, the item name.
    min_rating : float, optional
        Keep interactions whose rating is at least this; None keeps every row.
    multi_valued : mapping of str to str
        Attribute columns holding several values, and the separator between them.
    sep : str, optional
        The CSV separator; by default ``,`` (``\\t`` for .tsv files).
    on_duplicate : {"error", "drop", "count"}
        A repeated (user, item) pair is an error, keeps its first row, or becomes one interaction
        weighted by its count (see :attr:`whyrec.data.Dataset.weights`).
    min_tag_count : int
        MovieLens CSV releases: keep tags applied at least this many times.
    encoding : str
        The text encoding of CSV files (``utf-8``; ``latin-1`` or ``cp1252`` for many older exports).
    """

    user_col: str = "user"
    item_col: str = "item"
    rating_col: str = "rating"
    timestamp_col: str = "timestamp"
    title_col: str = "title"
    min_rating: float | None = None
    multi_valued: Mapping[str, str] = field(default_factory=dict)
    sep: str | None = None
    on_duplicate: OnDuplicate = "error"
    min_tag_count: int = 5
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if self.on_duplicate not in ON_DUPLICATE:
            raise ParameterError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, not {self.on_duplicate!r}")
        if self.min_tag_count < 1:
            raise ParameterError(f"min_tag_count must be at least 1, got {self.min_tag_count}")
        for name, separator in self.multi_valued.items():
            if not separator:
                raise ParameterError(f"the multi-valued column {name!r} needs a separator, as {name}=|")

    @classmethod
    def from_query(cls, query: str) -> DataOptions:
        """Options from a spec's query part (``user=userId&min_rating=3``)."""
        values: dict[str, Any] = {}
        multi: dict[str, str] = {}
        for part in filter(None, query.split("&")):
            key, sep, value = part.partition("=")
            if not sep:
                raise ParameterError(f"data spec option {part!r} needs a value, as key=value")
            if key in _COLUMNS:
                values[_COLUMNS[key]] = _nonempty(key, value)
            elif key == "min_rating":
                values["min_rating"] = _number(key, value)
            elif key == "multi":
                name, colon, separator = value.partition(":")
                if not colon or not name:
                    raise ParameterError(f"multi takes FIELD:SEP (as multi=genres:|), not {value!r}")
                multi[name] = separator_of(separator)
            elif key == "sep":
                values["sep"] = separator_of(value)
            elif key == "on_duplicate":
                values["on_duplicate"] = value
            elif key == "min_tag_count":
                values["min_tag_count"] = int(_number(key, value))
            elif key == "encoding":
                values["encoding"] = _nonempty(key, value)
            else:
                raise ParameterError(
                    f"unknown data spec option {key!r}; options are {', '.join([*_COLUMNS, *_OTHER_KEYS])}"
                )
        return cls(**values, multi_valued=multi)

    def to_query(self) -> str:
        """The query part that :meth:`from_query` reads back; only non-default options appear."""
        default = DataOptions()
        parts = [
            f"{key}={getattr(self, attr)}"
            for key, attr in _COLUMNS.items()
            if getattr(self, attr) != getattr(default, attr)
        ]
        if self.min_rating is not None:
            parts.append(f"min_rating={self.min_rating:g}")
        parts += [f"multi={name}:{_spelled(sep)}" for name, sep in self.multi_valued.items()]
        if self.sep is not None:
            parts.append(f"sep={_spelled(self.sep)}")
        if self.on_duplicate != default.on_duplicate:
            parts.append(f"on_duplicate={self.on_duplicate}")
        if self.min_tag_count != default.min_tag_count:
            parts.append(f"min_tag_count={self.min_tag_count}")
        if self.encoding != default.encoding:
            parts.append(f"encoding={self.encoding}")
        return "&".join(parts)

    def changed(self) -> set[str]:
        """Names of the options that differ from the defaults."""
        default = DataOptions()
        return {f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}

    def merged(self, **overrides: Any) -> DataOptions:
        """These options with every override that is not None applied (multi-valued ones added)."""
        chosen = {k: v for k, v in overrides.items() if v is not None and k != "multi_valued"}
        multi = {**self.multi_valued, **(overrides.get("multi_valued") or {})}
        return replace(self, **chosen, multi_valued=multi)


_OTHER_KEYS = ("min_rating", "multi", "sep", "on_duplicate", "min_tag_count", "encoding")


def split_spec(spec: str) -> tuple[str, DataOptions]:
    """A data spec without its query, and the options its query names."""
    base, _, query = spec.partition("?")
    return base, DataOptions.from_query(query)


def with_options(spec: str, options: DataOptions) -> str:
    """`spec` with `options` written into its query (the canonical form a run config saves)."""
    base, _ = split_spec(spec)
    query = options.to_query()
    return f"{base}?{query}" if query else base


def separator_of(text: str) -> str:
    """A separator given on the command line or in a spec (``tab``, ``\\t``, ``;``, ``|`` ...)."""
    if not text:
        raise ParameterError("a separator cannot be empty")
    return _SEPARATORS.get(text.lower(), text)


def _spelled(separator: str) -> str:
    names = {v: k for k, v in _SEPARATORS.items() if k.isalpha()}
    return names.get(separator, separator) if separator in ("\t", " ") else separator


def _nonempty(key: str, value: str) -> str:
    if not value:
        raise ParameterError(f"data spec option {key!r} needs a column name")
    return value


def _number(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ParameterError(f"data spec option {key!r} takes a number, not {value!r}") from None
