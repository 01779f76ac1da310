"""GLIDER (Tsang et al., ICLR 2020): the feature interactions a black-box CTR model has learned.

For each of N data instances: switch random subsets of its fields to "absent", query the black
box's click logit on every perturbed row, fit an MLP surrogate to (which fields are present →
logit), and decode the surrogate's weights with NID into that instance's interactions. Across
instances, an interaction's global importance is how often it is among an instance's top
interactions. Surrogates are fitted many at a time (one batched network per chunk of instances)
in a process pool, while the parent process queries the black box for the next chunk.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from whyrec._runtime import exit_with_parent
from whyrec.data.ctr import ABSENT, CTRData
from whyrec.errors import DataError, ParameterError
from whyrec.interactions.nid import decode, fit_batched_mlp


@dataclass(frozen=True)
class GliderSettings:
    """How each instance is perturbed and how its surrogate is fitted and read."""

    samples: int = 600  # perturbed copies of each instance
    keep: float = 0.5  # probability that a field stays present in a perturbed copy
    hidden: tuple[int, ...] = (32, 16)
    l1: float = 5e-4
    steps: int = 300
    lr: float = 1e-2
    max_order: int = 3
    top: int = 5  # interactions per instance that count towards the global ranking
    chunk: int = 25  # instances per batched surrogate fit


@dataclass
class InteractionReport:
    """Detected interactions over named fields, with how they were found."""

    fields: list[str]
    ranking: list[dict[str, Any]]  # {"fields": [...], "count": .., "share": .., "strength": ..}
    pairwise: np.ndarray  # fields x fields, mean normalised pairwise strength
    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)

    def top(self, k: int, *, min_order: int = 2) -> list[tuple[str, ...]]:
        """The k strongest interactions of at least `min_order` fields, as field-name tuples."""
        chosen = [tuple(r["fields"]) for r in self.ranking if len(r["fields"]) >= min_order]
        return chosen[:k]

    def pair_ranking(self) -> list[tuple[tuple[str, str], float]]:
        p = len(self.fields)
        pairs = [
            ((self.fields[i], self.fields[j]), float(self.pairwise[i, j])) for i in range(p) for j in range(i + 1, p)
        ]
        return sorted(pairs, key=lambda x: -x[1])

    def to_dict(self, *, top: int = 50) -> dict[str, Any]:
        return {
            "method": self.method,
            "fields": self.fields,
            "interactions": self.ranking[:top],
            "pairs": [{"fields": list(k), "strength": v} for k, v in self.pair_ranking()[:top]],
            "settings": self.settings,
            "timing": self.timing,
        }


def glider(
    predict_logit: Callable[[np.ndarray], np.ndarray],
    data: CTRData,
    *,
    instances: int = 1000,
    settings: GliderSettings | None = None,
    n_jobs: int | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> InteractionReport:
    """Global interaction ranking of a black box over `instances` rows of `data` (see module doc).

    `predict_logit` maps an ``n x fields`` token matrix (ABSENT = -1 for a switched-off field) to
    logits, e.g. ``CTRModel.predict_logit``. `n_jobs` processes fit the surrogates (default: all
    cores); `progress` is called with the number of instances finished.
    """
    s = settings or GliderSettings()
    if instances < 1:
        raise ParameterError(f"instances must be at least 1, got {instances}")
    if len(data) == 0:
        raise DataError("GLIDER needs at least one data row")
    if s.samples < 10 or not 0 < s.keep < 1:
        raise ParameterError("GLIDER needs samples >= 10 and keep in (0, 1)")
    n_jobs = n_jobs or os.cpu_count() or 1
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(data), size=min(instances, len(data)), replace=False))
    start = time.perf_counter()
    query_seconds = 0.0
    results: list[tuple[np.ndarray, list]] = []
    done = 0

    def collect(result: tuple[np.ndarray, list]) -> None:
        nonlocal done
        results.append(result)
        done += len(result[1])
        if progress:
            progress(done)

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        nonlocal query_seconds
        for n, first in enumerate(range(0, len(chosen), s.chunk)):
            rows = data.tokens[chosen[first : first + s.chunk]]
            t0 = time.perf_counter()
            masks, y = _query(predict_logit, rows, s, rng)
            query_seconds += time.perf_counter() - t0
            yield masks, y, seed + n

    if n_jobs == 1:
        for masks, y, chunk_seed in chunks():
            collect(_fit_chunk(masks, y, s, chunk_seed))
    else:
        # fork (as torch's DataLoader does) with one torch thread per worker: spawn would re-run the
        # caller's main module. Chunks travel to workers as numpy arrays over pipes, never via disk.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context, initializer=_single_thread) as pool:
            pending: list[Future] = []
            for masks, y, chunk_seed in chunks():
                pending.append(pool.submit(_fit_chunk, masks, y, s, chunk_seed))
                while len(pending) > 2 * n_jobs:  # bound the queued perturbations' memory
                    collect(pending.pop(0).result())
            for future in pending:
                collect(future.result())
    seconds = time.perf_counter() - start
    report = aggregate(data.fields, results, s.top, method="glider")
    report.settings = {**s.__dict__, "instances": len(chosen), "n_jobs": n_jobs, "seed": seed}
    report.timing = {
        "seconds": seconds,
        "seconds_per_instance": seconds / len(chosen),
        "query_seconds": query_seconds,
    }
    return report


def aggregate(fields: list[str], results: list[tuple[np.ndarray, list]], top: int, *, method: str) -> InteractionReport:
    """Count each interaction over the instances whose top-`top` list holds it."""
    counts: Counter[tuple[int, ...]] = Counter()
    strength: dict[tuple[int, ...], float] = {}
    pairwise = np.zeros((len(fields), len(fields)))
    n = 0
    for pair_block, rankings in results:
        scale = pair_block.max(axis=(1, 2), keepdims=True)
        pairwise += (pair_block / np.where(scale > 0, scale, 1)).sum(axis=0)
        for ranking in rankings:
            n += 1
            best = ranking[0][1] if ranking else 1.0
            for inputs, value in ranking[:top]:
                counts[inputs] += 1
                strength[inputs] = strength.get(inputs, 0.0) + value / (best or 1.0)
    ranking = [
        {
            "fields": [fields[i] for i in inputs],
            "count": c,
            "share": c / n,
            "strength": strength[inputs] / c,
        }
        for inputs, c in sorted(counts.items(), key=lambda kv: (-kv[1], -strength[kv[0]], kv[0]))
    ]
    return InteractionReport(list(fields), ranking, pairwise / max(n, 1), method)


def _query(
    predict_logit: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, s: GliderSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Perturbation masks (chunk x samples x fields) and the black box's standardised logits."""
    n, p = rows.shape
    masks = rng.random((n, s.samples, p)) < s.keep
    masks[:, 0, :] = True  # the instance itself
    tokens = np.where(masks, rows[:, None, :], ABSENT).reshape(-1, p)
    y = np.asarray(predict_logit(tokens), dtype=np.float64).reshape(n, s.samples)
    y = (y - y.mean(axis=1, keepdims=True)) / np.maximum(y.std(axis=1, keepdims=True), 1e-6)
    return masks.astype(np.float32), y.astype(np.float32)


def _fit_chunk(masks: np.ndarray, y: np.ndarray, s: GliderSettings, seed: int) -> tuple[np.ndarray, list]:
    x = torch.from_numpy(masks) * 2 - 1  # centred inputs: present +1, absent -1
    model = fit_batched_mlp(x, torch.from_numpy(y), hidden=s.hidden, l1=s.l1, steps=s.steps, lr=s.lr, seed=seed)
    pairwise, rankings = decode(model, max_order=s.max_order)
    return pairwise.astype(np.float32), [[(r.inputs, r.strength) for r in ranking[: 4 * s.top]] for ranking in rankings]


def _single_thread() -> None:
    exit_with_parent()  # a worker ends with the process that asked for its surrogates
    torch.set_num_threads(1)
