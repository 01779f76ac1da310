"""Sharded batch jobs over every user: ``recommend-all`` and ``explain-all``.

Users (sorted by dense index) are cut into parts of `users_per_part`; part j belongs to worker
j mod n_workers. A worker is a torchrun rank (RANK / WORLD_SIZE) or is named by hand (`worker`,
`n_workers`), so jobs spread over processes or machines without a process group. Each part is one
Parquet file, written to a temporary name and renamed, so a killed job leaves only whole parts and
a rerun skips them. ``job.json`` pins the job's model and settings: rerunning into the folder with
anything else is refused, not mixed. When every part exists, ``_SUCCESS`` lists them.

Rows: user, item, rank (1 = best), score (the logit) and, for explain-all, the top reasons
(token names) with their relevances, from the model's explainer (ε-LRP for RecoNet). With
``counterfactual``, explain-all adds each recommendation's verified counterfactual set in the top k
(:func:`~whyrec.explain.counterfactual`): the history items whose removal drops it out of the list
(empty when none was found), the item's rank without them and whether re-scoring verified it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from whyrec._io import sha256_file, write_json_atomic
from whyrec.errors import DataError, ParameterError
from whyrec.explain.base import default_method, explain_pairs
from whyrec.explain.counterfactual import counterfactual as search_counterfactual
from whyrec.metrics import SCORE_BLOCK
from whyrec.models.recommender import Recommender

JOB_FILE = "job.json"
DONE_FILE = "_SUCCESS"
KINDS = ("recommend", "explain")


def run_job(
    model: Recommender,
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    kind: str = "recommend",
    k: int = 10,
    reasons: int = 3,
    method: str | None = None,
    users_per_part: int = 10_000,
    worker: int | None = None,
    n_workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    counterfactual: bool = False,
) -> dict[str, Any]:
    """Write this worker's parts of the job to `out`; returns counts and throughput."""
    if kind not in KINDS:
        raise ParameterError(f"unknown job {kind!r}; use one of {', '.join(KINDS)}")
    if k < 1 or reasons < 0 or users_per_part < 1:
        raise ParameterError("k and users_per_part must be at least 1 and reasons at least 0")
    if counterfactual and kind != "explain":
        raise ParameterError("counterfactual sets come with explain-all, not recommend-all")
    if counterfactual and not model.supports_profiles:
        raise ParameterError(f"{type(model).__name__} cannot re-score an edited profile, so it has no counterfactuals")
    worker, n_workers = _worker(worker, n_workers)
    fs = model.feature_space_
    n_users = fs.n_users
    n_parts = -(-n_users // users_per_part)
    out = Path(out)
    job = {
        "kind": kind,
        "k": k,
        "reasons": reasons if kind == "explain" else 0,
        "method": (method or default_method(model)) if kind == "explain" else None,
        "counterfactual": counterfactual,
        "users_per_part": users_per_part,
        "n_parts": n_parts,
        "n_users": n_users,
        "model": str(Path(model_dir).resolve()),
        "model_sha256": _model_digest(model_dir),
    }
    _claim(out, job)
    mine = [j for j in range(n_parts) if j % n_workers == worker]
    todo = [j for j in mine if not _part_path(out, j).exists()]
    started, pairs = time.perf_counter(), 0
    for j in todo:
        users = np.arange(j * users_per_part, min((j + 1) * users_per_part, n_users))
        table = _part(model, users, kind, k, reasons, method, counterfactual)
        pairs += table.num_rows
        path = _part_path(out, j)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        if progress:
            progress(len(users))
    seconds = time.perf_counter() - started
    finished = all(_part_path(out, j).exists() for j in range(n_parts))
    if finished and not (out / DONE_FILE).exists():
        write_json_atomic(out / DONE_FILE, {"parts": [_part_path(out, j).name for j in range(n_parts)]})
    return {
        "worker": worker,
        "n_workers": n_workers,
        "parts_written": len(todo),
        "parts_skipped": len(mine) - len(todo),
        "rows": pairs,
        "seconds": seconds,
        "rows_per_second": pairs / seconds if seconds else None,
        "complete": finished,
    }


def read_job(out: str | os.PathLike) -> pa.Table:
    """All parts of a finished job as one Arrow table; an unfinished or damaged job is an error."""
    out = Path(out)
    if not (out / DONE_FILE).exists():
        job = _read_json(out / JOB_FILE)
        missing = [j for j in range(job["n_parts"]) if not _part_path(out, j).exists()]
        raise DataError(
            f"the job in {out} is unfinished: {len(missing)} part(s) missing, e.g. {_part_name(missing[0])}"
        )
    parts = _read_json(out / DONE_FILE)["parts"]
    absent = [p for p in parts if not (out / p).exists()]
    if absent:
        raise DataError(f"part {absent[0]} of the job in {out} is missing")
    return pa.concat_tables(pq.read_table(out / p) for p in parts)


def _part(
    model: Recommender, users: np.ndarray, kind: str, k: int, reasons: int, method: str | None, counterfactual: bool
) -> pa.Table:
    fs = model.feature_space_
    # a user with neither history nor attributes has an empty bag and gets no recommendation
    has_bag = model.train_matrix_[users].getnnz(axis=1) + model.user_attributes_[users].getnnz(axis=1) > 0
    users = users[has_bag]
    k = min(k, fs.n_items)
    items = np.empty((len(users), k), dtype=np.int64)
    scores = np.empty((len(users), k), dtype=np.float32)
    block = max(1, SCORE_BLOCK // fs.n_items)  # a huge catalogue scores few users at a time
    for start in range(0, len(users), block):
        chunk = users[start : start + block]
        top = model.top_k(model.score_users(chunk), k, exclude=model.train_matrix_[chunk])
        items[start : start + len(chunk)], scores[start : start + len(chunk)] = top.items, top.scores
    user_ids = np.asarray(fs.user_ids, dtype=object)[np.repeat(users, k)]
    columns: dict[str, Any] = {
        "user": pa.array([str(u) for u in user_ids], type=pa.string()),
        "item": pa.array([str(i) for i in np.asarray(fs.item_ids, dtype=object)[items.ravel()]], type=pa.string()),
        "rank": pa.array(np.tile(np.arange(1, k + 1, dtype=np.int16), len(users))),
        "score": pa.array(scores.ravel()),
    }
    if kind == "explain":
        pair_bags = model.user_profiles(users)[np.repeat(np.arange(len(users)), k)]
        explained = explain_pairs(model, pair_bags, items.ravel(), method=method)
        tokens, values = _top_reasons(explained.relevance, reasons)
        names = fs.token_names
        columns["reasons"] = pa.array([names[t].tolist() for t in tokens], type=pa.list_(pa.string()))
        columns["relevance"] = pa.array(values, type=pa.list_(pa.float32()))
        columns["sentence"] = pa.array([e.sentence() for e in explained], type=pa.string())
        if counterfactual:
            columns.update(_counterfactuals(model, pair_bags, items.ravel(), explained, k))
    return pa.table(columns)


def _counterfactuals(
    model: Recommender, bags: sp.csr_matrix, targets: np.ndarray, explained: Any, n: int
) -> dict[str, pa.Array]:
    """Each pair's counterfactual set in the top n, ordered by the job's own explanation."""
    sets, ranks, verified, sentences = [], [], [], []
    for p, target in enumerate(targets):
        bag = bags[p]
        bag.sort_indices()
        relevance = explained[p].relevance_by_token(bag.indices)
        found = search_counterfactual(model, bag, int(target), n=n, relevance=relevance)
        sets.append(found.removed)
        ranks.append(found.new_rank)
        verified.append(found.verified)
        sentences.append(found.sentence)
    return {
        "counterfactual": pa.array(sets, type=pa.list_(pa.string())),
        "counterfactual_rank": pa.array(ranks, type=pa.int32()),
        "counterfactual_verified": pa.array(verified, type=pa.bool_()),
        "counterfactual_sentence": pa.array(sentences, type=pa.string()),
    }


def _top_reasons(relevance: sp.csr_matrix, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each row's `n` largest relevances (and their tokens), in one sort over all rows."""
    rows = np.repeat(np.arange(relevance.shape[0]), np.diff(relevance.indptr))
    order = np.lexsort((-relevance.data, rows))
    position = np.arange(len(order)) - relevance.indptr[rows[order]]
    keep = order[position < n]
    bounds = np.searchsorted(rows[keep], np.arange(relevance.shape[0] + 1))
    tokens, values = relevance.indices[keep], relevance.data[keep].astype(np.float32)
    return np.split(tokens, bounds[1:-1]), np.split(values, bounds[1:-1])


def _worker(worker: int | None, n_workers: int | None) -> tuple[int, int]:
    if worker is None and n_workers is None:
        worker, n_workers = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if worker is None or n_workers is None or not 0 <= worker < n_workers:
        raise ParameterError(f"worker must lie in 0..n_workers-1 (got worker={worker}, n_workers={n_workers})")
    return worker, n_workers


def _claim(out: Path, job: dict[str, Any]) -> None:
    """Create the job folder, or check that the job already in it is this one."""
    path = out / JOB_FILE
    if path.exists():
        saved = _read_json(path)
        if saved != job:
            changed = sorted(key for key in job if saved.get(key) != job[key])
            raise ParameterError(
                f"{out} holds a different job (differs in {', '.join(changed)}); use a new folder or the same settings"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, job)


def _model_digest(model_dir: str | os.PathLike) -> str:
    tensors = sorted(Path(model_dir).glob("*.safetensors"))
    return ",".join(sha256_file(t)[:16] for t in tensors)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _part_name(j: int) -> str:
    return f"part-{j:06d}.parquet"


def _part_path(out: Path, j: int) -> Path:
    return out / _part_name(j)
