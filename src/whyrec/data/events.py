"""Interaction events stored durably in a database, and folded into the next training run.

A live service learns that a user just picked an item. RecoNet needs no retraining to use it (the
user is a bag of tokens), so the event only has to be stored: :class:`EventStore` keeps events and
the raw attributes of users first seen through events, through SQLAlchemy, in SQLite by default
(one file, WAL mode) or in PostgreSQL (``postgresql://...``), so that several service replicas share
one store. :func:`with_events` folds stored events into a :class:`~whyrec.data.Dataset` for the
next training run.

Every write is one transaction: a batch is stored whole or not at all, and an event is only
acknowledged once its transaction has committed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from whyrec.data.dataset import Dataset
from whyrec.data.features import FeatureSpace, id_key
from whyrec.errors import DataError, first_line

MAX_BATCH = 1000  # events in one request: larger batches are refused, not truncated
MAX_ID_LENGTH = 256

_metadata = MetaData()
_events = Table(
    "whyrec_events",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(MAX_ID_LENGTH), nullable=False, index=True),
    Column("item_id", String(MAX_ID_LENGTH), nullable=False),
    Column("timestamp", Float, nullable=True),  # when it happened (seconds since the epoch), if given
    Column("weight", Float, nullable=False),
    Column("received", Float, nullable=False),  # when the store committed it
)
_attributes = Table(
    "whyrec_user_attributes",
    _metadata,
    Column("user_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("attributes", Text, nullable=False),  # JSON of raw values, as a profile's attributes
)


@dataclass(frozen=True)
class Event:
    """One interaction: `user_id` did something with `item_id` (external IDs, any JSON scalar)."""

    user_id: Any
    item_id: Any
    timestamp: float | None = None
    weight: float = 1.0


class EventStore:
    """Events and new users' attributes in a SQL database (see the module docstring).

    Parameters
    ----------
    url : str or path
        ``sqlite:///path/events.db``, a plain file path (SQLite), ``postgresql://user@host/db``.
    """

    def __init__(self, url: str | Path) -> None:
        self.url = _database_url(url)
        try:
            self.engine = _engine(self.url)
            with self.engine.begin() as connection:
                _metadata.create_all(connection)
        except (SQLAlchemyError, OSError, ModuleNotFoundError) as exc:
            reason = first_line(getattr(exc, "orig", None) or exc)
            raise DataError(f"cannot open the event store {_safe(self.url)}: {reason}") from None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def add(self, events: Sequence[Event], attributes: Mapping[Any, Mapping[str, Any]] | None = None) -> int:
        """Store `events` (and raw attributes per user) in one transaction; returns the count.

        Bad events are refused before anything is written: the batch is stored whole or not at all.
        """
        rows = [_row(e, position) for position, e in enumerate(events)]
        if len(rows) > MAX_BATCH:
            raise DataError(f"a batch holds at most {MAX_BATCH} events, got {len(rows)}")
        profiles = [
            {"user_id": _key(user, "user_id", None), "attributes": json.dumps(dict(values), sort_keys=True)}
            for user, values in (attributes or {}).items()
        ]
        now = time.time()
        for row in rows:
            row["received"] = now
        with self._transaction() as connection:
            if rows:
                connection.execute(insert(_events), rows)
            for profile in profiles:  # the latest attributes win
                connection.execute(delete(_attributes).where(_attributes.c.user_id == profile["user_id"]))
                connection.execute(insert(_attributes), [profile])
        return len(rows)

    def history(self, user_id: Any) -> list[dict[str, Any]]:
        """The user's stored events, oldest first."""
        query = (
            select(_events.c.item_id, _events.c.timestamp, _events.c.weight, _events.c.received)
            .where(_events.c.user_id == id_key(user_id))
            .order_by(_events.c.id)
        )
        with self._connection() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def items_of(self, user_id: Any) -> list[str]:
        """Distinct items of the user's stored events, in the order first seen."""
        return list(dict.fromkeys(row["item_id"] for row in self.history(user_id)))

    def attributes_of(self, user_id: Any) -> dict[str, Any]:
        """Raw attributes stored for a user first seen through events ({} when none)."""
        query = select(_attributes.c.attributes).where(_attributes.c.user_id == id_key(user_id))
        with self._connection() as connection:
            stored = connection.execute(query).scalar()
        return json.loads(stored) if stored else {}

    def delete_user(self, user_id: Any) -> int:
        """Delete the user's events and stored attributes; returns how many events went."""
        key = id_key(user_id)
        with self._transaction() as connection:
            gone = connection.execute(delete(_events).where(_events.c.user_id == key)).rowcount
            connection.execute(delete(_attributes).where(_attributes.c.user_id == key))
        return int(gone or 0)

    def count(self) -> int:
        with self._connection() as connection:
            return int(connection.execute(select(func.count()).select_from(_events)).scalar() or 0)

    def frame(self) -> pd.DataFrame:
        """Every stored event as a frame: user, item, timestamp, weight (strings for the IDs)."""
        query = select(
            _events.c.user_id, _events.c.item_id, _events.c.timestamp, _events.c.weight, _events.c.received
        ).order_by(_events.c.id)
        with self._connection() as connection:
            rows = connection.execute(query).fetchall()
        frame = pd.DataFrame(rows, columns=["user", "item", "timestamp", "weight", "received"])
        return frame

    def all_attributes(self) -> dict[str, dict[str, Any]]:
        with self._connection() as connection:
            rows = connection.execute(select(_attributes.c.user_id, _attributes.c.attributes)).fetchall()
        return {user: json.loads(values) for user, values in rows}

    def close(self) -> None:
        self.engine.dispose()

    def _connection(self) -> Any:
        try:
            return self.engine.connect()
        except SQLAlchemyError as exc:
            raise DataError(f"the event store {_safe(self.url)} is unreachable: {exc.__class__.__name__}") from None

    def _transaction(self) -> Any:
        try:
            return self.engine.begin()
        except SQLAlchemyError as exc:
            raise DataError(f"the event store {_safe(self.url)} is unreachable: {exc.__class__.__name__}") from None


def with_events(dataset: Dataset, store: EventStore) -> Dataset:
    """`dataset` plus every stored event: new users are appended (with their stored attributes
    where the feature space knows them), repeated (user, item) pairs are merged, weights summed
    when the dataset counts repeats. An event for an item outside the catalogue is an error."""
    events = store.frame()
    if events.empty:
        return dataset
    fs = dataset.feature_space
    items = fs.item_index(events["item"].tolist())  # raises UnknownIdError naming the item
    known = {id_key(u): i for i, u in enumerate(fs.user_ids)}
    new_users = [u for u in dict.fromkeys(events["user"]) if u not in known]
    space = FeatureSpace(fs.item_ids, fs.item_names, [*fs.user_ids, *new_users], list(fs.fields), dict(fs.phrases))
    lookup = {**known, **{u: fs.n_users + j for j, u in enumerate(new_users)}}
    users = np.array([lookup[u] for u in events["user"]], dtype=np.int64)
    stored = store.all_attributes()
    rows = [
        space.encode_attributes("user", stored[u]) if u in stored and fs.user_fields else np.zeros(0, np.int64)
        for u in new_users
    ]
    extra = sp.csr_matrix(
        (
            np.ones(sum(len(r) for r in rows), np.float32),
            np.concatenate([np.zeros(0, np.int64), *rows]),
            np.concatenate([[0], np.cumsum([len(r) for r in rows])]),
        ),
        shape=(len(new_users), space.n_tokens),
    )
    all_users = np.concatenate([dataset.users, users])
    all_items = np.concatenate([dataset.items, items])
    weights = np.concatenate(
        [
            dataset.weights if dataset.weights is not None else np.ones(dataset.n_interactions, np.float32),
            events["weight"].to_numpy(np.float32),
        ]
    )
    when = events["timestamp"].fillna(events["received"]).to_numpy(np.float64)
    stamps = np.concatenate([dataset.timestamps, when]) if dataset.timestamps is not None else None
    pairs = all_users * space.n_items + all_items
    _, first, inverse = np.unique(pairs, return_index=True, return_inverse=True)
    merged = np.bincount(inverse, weights=weights).astype(np.float32)
    latest = None
    if stamps is not None:  # a merged pair keeps its latest time
        latest = np.full(len(first), -np.inf)
        np.maximum.at(latest, inverse, stamps)
    return replace(
        dataset,
        feature_space=space,
        users=all_users[first],
        items=all_items[first],
        user_attributes=sp.vstack([dataset.user_attributes, extra]).tocsr(),
        timestamps=latest,
        weights=merged if dataset.weights is not None else None,
        stats={**dataset.stats, "events_folded_in": len(events), "new_users_from_events": len(new_users)},
    )


def parse_events(raw: Iterable[Mapping[str, Any]]) -> list[Event]:
    """Events from plain mappings (``user_id``, ``item_id``, optional ``timestamp`` and ``weight``)."""
    return [Event(r["user_id"], r["item_id"], r.get("timestamp"), r.get("weight", 1.0)) for r in raw]


def _row(e: Event, position: int) -> dict[str, Any]:
    where = f"event {position}"
    weight = e.weight
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
        raise DataError(f"{where}: weight must be a positive finite number, got {weight!r}")
    stamp = e.timestamp
    if stamp is not None and (
        isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp)
    ):
        raise DataError(f"{where}: timestamp must be seconds since the epoch, got {stamp!r}")
    return {
        "user_id": _key(e.user_id, "user_id", where),
        "item_id": _key(e.item_id, "item_id", where),
        "timestamp": None if stamp is None else float(stamp),
        "weight": float(weight),
    }


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _key(value: Any, name: str, where: str | None) -> str:
    key = id_key(value) if value is not None else ""
    prefix = f"{where}: " if where else ""
    if not key or len(key) > MAX_ID_LENGTH:
        raise DataError(f"{prefix}{name} must be a non-empty ID of at most {MAX_ID_LENGTH} characters")
    return key


def _database_url(url: str | Path) -> str:
    text = str(url)
    if "://" not in text:  # a plain path: SQLite in that file
        path = Path(text).expanduser()
        return f"sqlite:///{path}"
    if text.startswith("postgresql://") or text.startswith("postgres://"):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DataError(f"not a database URL: {url!r} (use a file path, sqlite:///PATH or postgresql://...)") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            folder = Path(database).parent
            if not folder.is_dir():
                raise DataError(f"cannot open the event store {url}: folder {folder} does not exist")
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            # WAL lets readers run beside the writer (several service workers share the file).
            # synchronous=FULL syncs the WAL at every commit, so an acknowledged event survives
            # kill -9 of the server and also a crash of the machine (NORMAL would only survive the
            # former); an event costs one fsync, which the write-latency metric shows.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        # PostgreSQL commits durably by default (synchronous_commit=on): a commit returns after
        # its WAL record is flushed.
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise DataError(f"unsupported event store {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
