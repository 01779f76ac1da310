"""Write every results table from the benchmarks' result files, never by hand.

    python -m benchmarks.report

Writes ``benchmarks/<question>/README.md`` (the question, how to rerun it, and a table of what its
result files say), the index ``benchmarks/README.md``, and the short "results at a glance" block of
the top README (between its ``glance`` markers). Each row is built from one or more result files;
a row belongs to the question whose folder holds the first file it names.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import BENCHMARKS, ROOT

GLANCE_START, GLANCE_END = "<!-- glance:start -->", "<!-- glance:end -->"
# RecoNet with attributes: the paper's layer, the attribute-aware layer (the default), by-kind pooling,
# and the default's layer trained with the masked objective (tuned for accuracy; tuned in a space bounded for cost)
RECONET_VARIANTS = (
    "reconet_attributes",
    "reconet_attribute_output",
    "reconet_by_kind",
    "reconet_masked",
    "reconet_masked_fast",
)


def _find(name: str) -> Path | None:
    """The result file `name` in whichever question's results folder holds it."""
    found = sorted(BENCHMARKS.glob(f"*/results/{name}"))
    return found[0] if found else None


def _load(name: str) -> dict | None:
    path = _find(name)
    return json.loads(path.read_text()) if path else None


def rows() -> list[str]:
    out = ["| target | measured | goal | source |", "|---|---|---|---|"]
    out.extend(_reconet_rows())
    out.extend(_inspect_rows())
    out.extend(_gpu_rows())
    out.extend(_lrp_rows())
    out.extend(_explanation_rows())
    out.extend(_insights_rows())
    out.extend(_attribution_network_rows())
    out.extend(_accuracy_rows())
    out.extend(_glider_rows())
    out.extend(_scale_rows())
    out.extend(_serve_load_rows())
    out.extend(_live_rows())
    out.extend(_soak_rows())
    return out


def _reconet_rows() -> list[str]:
    """RecoNet's accuracy and time to its best epoch on MovieLens."""
    out: list[str] = []
    for data in ("ml-100k", "ml-1m-half"):
        result = _load(f"reconet_{data}.json")
        if result:
            r = result["results"]
            test, pop = r["test"]["RecoNet"], r["test"]["Popularity"]
            out.append(
                f"| RecoNet test recall@50, {data} (with attributes) | **{test['recall@50']:.4f}** "
                f"(NDCG@50 {test['ndcg@50']:.4f}; popularity {pop['recall@50']:.4f}) "
                f"| {'>= 0.50' if data == 'ml-100k' else 'report'} | `reconet_{data}.json` |"
            )
            out.append(
                f"| Training to the best validation epoch, {data} | **{r['seconds_to_best_epoch']:.1f} s** "
                f"(epoch {r['best_epoch']}) | {'< 60 s' if data == 'ml-1m-half' else 'report'} "
                f"| `reconet_{data}.json` |"
            )
    return out


def _inspect_rows() -> list[str]:
    """How long `whyrec data inspect` takes on ML-100K."""
    out: list[str] = []
    inspected = _load("data_inspect_ml-100k.json")
    if inspected:
        r = inspected["results"]
        out.append(
            f"| `whyrec data inspect movielens:ml-100k` (fresh process: imports, loading, report, split preview) "
            f"| **{r['seconds_median']:.1f} s** (median of {len(r['seconds_runs'])}) | < 5 s "
            f"| `data_inspect_ml-100k.json` |"
        )
    return out


def _gpu_rows() -> list[str]:
    """RecoNet through the trainer on a GPU."""
    out: list[str] = []
    gpu = _load("gpu_reconet.json")
    if gpu:
        r = gpu["results"]
        cpu, cuda = r["devices"]["cpu"], r["devices"].get("cuda")
        resumed = r["resumption"]["max_score_difference_to_uninterrupted_run"]
        if cuda:
            out.append(
                f"| RecoNet through the trainer on {r['gpu']}: 6 epochs, synthetic 20,000 x 2,000 "
                f"| **{cuda['fit_seconds']:.1f} s** vs {cpu['fit_seconds']:.1f} s on its {gpu['machine']['cores']} "
                f"CPU cores (same test recall); resumed run within {resumed:.0e}; LRP of {r['lrp']['pairs']:,} pairs "
                f"{r['lrp']['median_seconds'] * 1e3:.1f} ms | report | `gpu_reconet.json` |"
            )
    return out


def _lrp_rows() -> list[str]:
    """Batched LRP's speed and the planted drivers it finds."""
    out: list[str] = []
    speed = _load("lrp_speed_ml-1m-half.json")
    if speed:
        r = speed["results"]
        out.append(
            f"| Batched LRP, {r['pairs']:,} pairs, ml-1m-half model | **{r['batched_lrp_seconds'] * 1e3:.0f} ms** "
            f"({r['batched_lrp_us_per_explanation']:.1f} µs each; {r['with_profiles_seconds'] * 1e3:.0f} ms with "
            f"profile building; one pair {r['single_pair_ms']:.2f} ms) | < 1 s | `lrp_speed_ml-1m-half.json` |"
        )
    drivers = _load("synthetic_drivers.json")
    if drivers:
        r = drivers["results"]
        seeds = len(r["per_seed"])
        out.append(
            f"| LRP ranks the planted driver in its top 3 (synthetic, {seeds} seeds) | **{r['top3_share_mean']:.1%}** "
            f"(min {r['top3_share_min']:.1%}) | >= 90% | `synthetic_drivers.json` |"
        )
    return out


def _explanation_rows() -> list[str]:
    """Pertinence, speed and counterfactuals of the explanation study on each data set."""
    out: list[str] = []
    for data in ("synthetic", "ml-100k", "ml-1m-half"):
        study = _load(f"explanations_{data}.json")
        if not study:
            continue
        r = study["results"]
        lrp, lime, shapley = r["methods"]["lrp"], r["methods"]["lime"], r["methods"]["shapley"]
        # which output layer the explained RecoNet had (runs before the parameter had the paper's)
        layer = "attribute-aware layer" if r["model"]["params"].get("attribute_output") else "paper's layer"
        source = f"`explanations_{data}.json` ({layer})"
        out.append(
            f"| Deletion-curve area (k = 1..50), {data}: LRP vs random vs LIME | **{lrp['deletion']['area']:.3f}** vs "
            f"{r['random']['deletion']['area']:.3f} vs {lime['deletion']['area']:.3f} | LRP below random and <= LIME "
            f"| {source} |"
        )
        out.append(
            f"| Top-1 vs random-1 removal (Mann–Whitney U), {data} | **p = {lrp['top1_vs_random1']['p_value']:.1e}** "
            f"({r['pairs']} pairs) | p < 1e-4 | {source} |"
        )
        out.append(
            f"| LIME (1,000 samples) time / batched LRP time, {data} | **{r['lime_to_lrp_speed_ratio']:,.0f}x** "
            f"(LRP {lrp['speed']['batched_us_per_explanation']:.1f} µs, LIME "
            f"{lime['speed']['batched_us_per_explanation'] / 1e3:.0f} ms) | >= 10,000x, LRP < 100 µs | {source} |"
        )
        out.append(
            f"| Exact Shapley cost / LRP cost (batched), {data} | **"
            f"{shapley['speed']['batched_us_per_explanation'] / lrp['speed']['batched_us_per_explanation']:.1f}x** "
            f"| <= 10x | {source} |"
        )
        for label, c in r.get("counterfactual", {}).items():
            goal = ">= 95% valid, median <= 5 ms" if label == "RecoNet" else "report"
            out.append(
                f"| Counterfactual sets, {label}, {data}: top {c['n']} of {c['recommendations'] // c['n']} test users "
                f"| **{c['validity']:.1%} found and verified** ({c['validity_where_reachable']:.1%} where removing "
                f"every history item drops it, {c['reachable_share']:.1%} of them; "
                f"{c['verified_share_of_found']:.0%} of returned sets verified); "
                f"median set size {c['set_size_median']:g} (mean {c['set_size_mean']:.1f}); "
                f"median {c['latency_ms_median']:.1f} ms (p90 {c['latency_ms_p90']:.1f}) | {goal} | {source} |"
            )
        if "planted_driver_top3" in lrp:
            shares = ", ".join(f"{m} {v['planted_driver_top3']['share']:.0%}" for m, v in r["methods"].items())
            out.append(f"| Planted driver in top 3 by method (top recommendation, {data}) | {shares} | - | {source} |")
    return out


def _insights_rows() -> list[str]:
    """How long `whyrec insights` takes, and how stable its field importances are."""
    out: list[str] = []
    ins = _load("insights_ml-100k.json")
    if ins:
        r = ins["results"]
        out.append(
            f"| `whyrec insights`, ml-100k, all {r['users']} users (segments, replication, 3-run stability) "
            f"| **{r['seconds_total']:.1f} s**; stability Spearman >= {r['stability_min_spearman_top20_fields']:.2f}, "
            f"unstable fields: {', '.join(r['unstable_fields']) or 'none'} | < 2 min, Spearman >= 0.9 "
            f"| `insights_ml-100k.json` |"
        )
    return out


def _attribution_network_rows() -> list[str]:
    """Attribution networks against a black-box MLP."""
    out: list[str] = []
    for data in ("synthetic", "ml-1m-half", "frappe"):
        an = _load(f"attribution_network_{data}.json")
        if not an:
            continue
        models = an["results"]["models"]
        parts = [f"{k} {v['accuracy']:.4f}" for k, v in models.items()]
        readout = [
            f"{k.removeprefix('attribution_')} {v['readout_accuracy']:.0%}"
            for k, v in models.items()
            if "readout_accuracy" in v
        ]
        extra = f"; read-out picks the true subset: {', '.join(readout)}" if readout else ""
        if "accuracy_gap_points" in an["results"]:
            extra += f"; gap to the MLP **{an['results']['accuracy_gap_points']:.2f} points**"
            if "accuracy_gap_points_per_seed" in an["results"]:
                per_seed = ", ".join(f"{g:.2f}" for g in an["results"]["accuracy_gap_points_per_seed"])
                extra += f" (mean of {len(an['results']['seeds'])} seeds: {per_seed})"
        if all("hr@10" in v for v in models.values()):
            extra += "; HR@10 " + ", ".join(f"{k} {v['hr@10']:.3f}" for k, v in models.items())
        if all("log_loss" in v for v in models.values()) and data == "frappe":
            extra += "; AUC " + ", ".join(f"{k} {v['auc']:.4f}" for k, v in models.items())
        goal = ">= 90% read-out, within 1 point" if data == "synthetic" else "gap <= 1 point"
        out.append(
            f"| Attribution networks vs black-box MLP, {data}: accuracy | {', '.join(parts)}{extra} | {goal} "
            f"| `attribution_network_{data}.json` |"
        )
    return out


def _serve_load_rows() -> list[str]:
    """The service under concurrent load."""
    out: list[str] = []
    load = _load("serve_load_ml-1m-half.json")
    if load:
        r = load["results"]
        h, e = r["handler_ms"], r["end_to_end_ms"]
        c = r.get("compute_ms")
        if c:  # the handler's own computing time, and the time inside the app with its wait for a slot
            out.append(
                f"| POST /explain, {r['clients']} concurrent clients for {r['seconds']:.0f} s, ml-1m-half: handler "
                f"compute time | **p50 {c['p50']:.2f} ms, p99 {c['p99']:.2f} ms** ({r['requests']:,} requests, "
                f"{r['errors']} errors, {r['throughput_per_s']:.0f}/s) | p50 < 2 ms, p99 < 20 ms | "
                "`serve_load_ml-1m-half.json` |"
            )
            out.append(
                f"| Same run: time inside the app (waiting for one of the 2 compute slots included) "
                f"| p50 {h['p50']:.1f} ms, p99 {h['p99']:.1f} ms | report | `serve_load_ml-1m-half.json` |"
            )
        else:
            out.append(
                f"| POST /explain, {r['clients']} concurrent clients for {r['seconds']:.0f} s, ml-1m-half: handler "
                f"time | **p50 {h['p50']:.2f} ms, p99 {h['p99']:.2f} ms** ({r['requests']:,} requests, "
                f"{r['errors']} errors, {r['throughput_per_s']:.0f}/s) | p50 < 2 ms, p99 < 20 ms | "
                "`serve_load_ml-1m-half.json` |"
            )
        out.append(
            f"| Same run, end to end over loopback (closed loop, clients on the same 2 cores) "
            f"| p50 {e['p50']:.1f} ms, p99 {e['p99']:.1f} ms | report | `serve_load_ml-1m-half.json` |"
        )
    return out


def _soak_rows() -> list[str]:
    soak = _load("serve_soak_ml-1m-half.json")
    if not soak:
        return []
    r, source = soak["results"], "`serve_soak_ml-1m-half.json`"
    faults = "; ".join(f["fault"] for f in r["faults"])
    quiet, load = r["lrp_ms_quiet"], r["lrp_ms_under_load"]
    return [
        f"| Soak: {r['seconds']:.0f} s of mixed load ({r['clients']} clients: recommend, LRP, events, slow methods "
        f"past a {r['explain_timeout_s']:g} s timeout, malformed bodies) with faults ({faults}) | **{r['requests']:,} "
        f"requests, {r['unexpected_statuses']} unexpected statuses, {r['events_lost']} of {r['events_acknowledged']:,} "
        f"acknowledged events lost, {r['leaked_processes']} leaked processes** | 0, 0, 0 | {source} |",
        f"| Soak: LRP /explain p50 / p99, alone vs under the soak | {quiet['p50']:.1f} / {quiet['p99']:.1f} ms vs "
        f"{load['p50']:.1f} / {load['p99']:.1f} ms | report | {source} |",
    ]


def _live_rows() -> list[str]:
    live = _load("serve_live_ml-1m-half.json")
    if not live:
        return []
    r, source, out = live["results"], "`serve_live_ml-1m-half.json`", []
    for label, text in (("whyrec", "now"), ("before", "before (handlers on the event loop)")):
        stall = r["stall"].get(label)
        if not stall:
            continue
        alone = stall["lrp_alone"]["end_to_end_ms"]["explain_lrp"]["p50"]
        busy = stall["lrp_with_2_kernel_shap_clients"]["end_to_end_ms"]["explain_lrp"]["p50"]
        out.append(
            f"| LRP /explain p50 alone vs beside 2 KernelSHAP clients, ml-1m-half, {text} | **{alone:.1f} ms vs "
            f"{busy:.1f} ms ({stall['p50_ratio']:.2f}x)** | <= 2x | {source} |"
        )
    for workers, m in r["mixed"].items():
        errors = sum(m["errors"].values())
        compute = m.get("compute_ms", {})
        handler = ", ".join(
            f"{k} {compute[k]['p99']:.1f}" if compute.get(k) else f"{k} {v['p99']:.1f} (in app)"
            for k, v in m["handler_ms"].items()
        )
        e2e = ", ".join(f"{k} {v['p50']:.0f}/{v['p99']:.0f}" for k, v in m["end_to_end_ms"].items())
        native = r["native"].get(workers, {})
        hey = (
            (
                f"; hey on /explain: {native['requests']:,} requests, {native['non_2xx']} non-2xx, p50/p99 "
                f"{native['end_to_end_ms']['p50']:.0f}/{native['end_to_end_ms']['p99']:.0f} ms, "
                f"{native['throughput_per_s']:.0f}/s"
            )
            if "end_to_end_ms" in native
            else ""
        )
        out.append(
            f"| Mixed load (50% recommend, 30% explain, 20% events), 32 clients for {m['wall_s']:.0f} s, "
            f"{workers.replace('_', ' ')} | **{errors} errors**, {sum(m['requests'].values()):,} requests "
            f"({m['throughput_per_s']:.0f}/s); handler compute p99 ms: {handler}; end-to-end p50/p99 ms: {e2e}{hey} "
            f"| 0 errors | {source} |"
        )
    return out


def _accuracy_rows() -> list[str]:
    out = []
    for data in ("ml-100k", "ml-1m-half", "synthetic"):
        study = _load(f"accuracy_{data}.json")
        out.extend(_table1_rows(data, study))
        grid = _load(f"ials_grid_{data}.json")
        out.extend(_ials_grid_rows(data, study, grid))
        out.extend(_tuning_budget_rows(data, grid))
        out.extend(_capacity_rows(data, grid, study))
        out.extend(_training_speed_rows(data, study))
        out.extend(_softmax_floor_rows(data))
        out.extend(_frontier_rows(data))
        out.extend(_coldstart_rows(data, study))
    return out


def _table1_rows(data: str, study: dict | None) -> list[str]:
    """Table 1's row: every model's median test recall@50 under one tuning budget."""
    out: list[str] = []
    if study:
        r = study["results"]
        ranking = r["ranking_by_median_recall@50"]
        models = r["models"]
        top = ", ".join(f"{n} {models[n]['recall@50_median']:.4f}" for n in ranking[:6])
        popularity = models["popularity"]["recall@50_median"]
        # a study from before the Optuna harness counted configurations
        budget = _budget(r) if "trials" in r else f"{r['budget']} configurations"
        restored = sorted(
            {m["sampler_trials_from"]["git_revision"] for m in models.values() if m.get("sampler_trials_from")}
        )
        if restored:  # studies rebuilt from an earlier table's trials (benchmarks/restore_studies.py)
            budget += f" (the sampler trials of earlier runs at {', '.join(restored)}, restored)"
        edge = [n for n in ranking if models[n].get("boundary")]
        flags = f"; best trial on a search-range edge: {', '.join(edge)}" if edge else ""
        place = "".join(
            f"; {n} ranks **{ranking.index(n) + 1} of {len(ranking)}**" for n in RECONET_VARIANTS if n in ranking
        )
        if r.get("earlier_runs"):  # rows added to the table by `--add`, each with its own run
            first_run = r["earlier_runs"][0]["models"]
            place += f" (rows added later: {', '.join(n for n in ranking if n not in first_run)})"
        out.append(
            f"| Table 1, {data}: test recall@50, median of {len(r['seeds'])} seeds, every model tuned with "
            f"{budget} | best: {top}; popularity {popularity:.4f}{place}{flags} "
            f"(full table: `accuracy_{data}.md`) | RecoNet with attributes first | `accuracy_{data}.json` |"
        )
    return out


def _ials_grid_rows(data: str, study: dict | None, grid: dict | None) -> list[str]:
    """Tuned iALS against issue 15's 24-point grid."""
    out: list[str] = []
    if grid and study and "ials" in study["results"]["models"]:
        g, tuned = grid["results"], study["results"]["models"]["ials"]
        # issue 15's bar is the grid's test level, 0.54 on ML-100K and 0.44 on ml-1m-half; both gaps are shown
        bar = ISSUE_15_IALS_BAR.get(data, g["recall@50_median"])
        gaps = (
            f"validation {tuned['validation'] - g['validation']:+.4f}, "
            f"test {tuned['recall@50_median'] - g['recall@50_median']:+.4f} against the grid"
        )
        met = f"met: >= {bar}; {gaps}" if tuned["recall@50_median"] >= bar else f"**not met**: < {bar}; {gaps}"
        out.append(
            f"| iALS on {data}: {_budget(study['results'])} vs the "
            f"24-point grid of issue 15, test recall@50 median | tuned **{tuned['recall@50_median']:.4f}** "
            f"(validation {tuned['validation']:.4f}) "
            f"vs grid {g['recall@50_median']:.4f} (validation {g['validation']:.4f}) | tuner finds what the "
            f"grid finds ({met}) | `ials_grid_{data}.json`, `accuracy_{data}.json` |"
        )
    return out


def _tuning_budget_rows(data: str, grid: dict | None) -> list[str]:
    """What more trials buy iALS, against the grid."""
    out: list[str] = []
    budget = _load(f"tuning_budget_{data}_ials.json")
    if budget and grid:
        r = budget["results"]
        shown = "; ".join(
            f"{_sampler({'sampler': sampler})} "
            + ", ".join(f"{row['trials']}: {row['validation']:.4f} ({row['recall@50_median']:.4f})" for row in rows)
            for sampler, rows in r["samplers"].items()
        )
        g = grid["results"]
        out.append(
            f"| iALS on {data}, one study grown to each budget (trials: best validation recall@50, test median "
            f"in brackets), one trial at a time | {shown}; "
            f"grid {g['validation']:.4f} ({g['recall@50_median']:.4f}) "
            f"| diagnostic: budget or sampler | `tuning_budget_{data}_ials.json` |"
        )
    return out


def _training_speed_rows(data: str, study: dict | None) -> list[str]:
    """Each model's fit time against tuned iALS."""
    out: list[str] = []
    speed = _load(f"training_speed_{data}.json")
    if speed:
        r = speed["results"]
        shown = ", ".join(
            f"{n} {m['fit_seconds_median']:.1f} s (best epoch at {m['seconds_to_best_median']:.1f} s; "
            f"recall@50 {statistics.median(m['test_recall@50']):.4f}; {r['params_from'][n]})"
            for n, m in r["models"].items()
        )
        over_grid = r.get("reconet_over_ials_grid_fit")
        versus = f", / grid iALS {over_grid:.1f}x" if over_grid else ""
        versus += "".join(
            f", sampled softmax ({key.split('_')[2]} negatives{', dense' if '_dense' in key else ''}) "
            f"/ tuned iALS {value:.1f}x"
            for key, value in r.items()
            if key.startswith("reconet_sampled_")
        )
        if "reconet_bfloat16_over_ials_fit" in r:
            versus += f", bfloat16 training passes / tuned iALS {r['reconet_bfloat16_over_ials_fit']:.1f}x"
        for row, what in (("reconet_masked", "masked objective"), ("reconet_masked_fast", "its cost-bounded row")):
            if f"{row}_over_ials_fit" in r:
                versus += f", {what} ({row}) / tuned iALS **{r[f'{row}_over_ials_fit']:.1f}x**"
        fits = len(next(iter(r["models"].values()))["fit_seconds"])
        reconet = r.get("reconet", "reconet_attributes")  # runs before --reconet timed the paper's layer
        tuned = study["results"]["models"] if study else {}
        stale = _stale({n: m["params"] for n, m in r["models"].items()}, tuned)
        if stale:
            versus += f"; **timed with configurations other than Table 1's for {', '.join(stale)}**"
        out.append(
            f"| Fit time on {data}, one run, {'one fit' if fits == 1 else f'median of {fits} fits'} each "
            f"| {shown}; RecoNet ({reconet}) / tuned iALS **{r['reconet_over_ials_fit']:.1f}x**{versus} "
            f"| <= 4x the tuned iALS | `training_speed_{data}.json` |"
        )
    return out


def _softmax_floor_rows(data: str) -> list[str]:
    """The full softmax's lowest cost, its cross-entropy alone."""
    out: list[str] = []
    floor = _load(f"softmax_floor_{data}.json")
    if floor:
        r = floor["results"]
        reach = "above" if r["floor_fit_seconds"] > r["target_fit_seconds"] else "below"
        out.append(
            f"| Full-softmax floor on {data}: cross-entropy alone over one epoch's {r['interactions']:,} x "
            f"{r['items']:,} logits (batch {r['batch_size']}), no product | "
            f"{r['removal_cross_entropy_seconds_per_epoch']:.2f} s an epoch x {r['epochs_run']} epochs "
            f"({r['timed_row']}, `{r['training_speed_file']}`) = **{r['floor_fit_seconds']:.1f} s = "
            f"{r['floor_over_ials_fit']:.1f}x the tuned iALS** ({r['ials_fit_seconds']:.1f} s); "
            f"the masked objective's softmax rows ({r['users']:,} users): "
            f"{r['masked_cross_entropy_seconds_per_epoch']:.2f} s an epoch "
            f"| a lower bound on that fit, {reach} the <= 4x target ({r['target_fit_seconds']:.1f} s) "
            f"| `softmax_floor_{data}.json` |"
        )
    return out


def _coldstart_rows(data: str, study: dict | None) -> list[str]:
    """Figure 4: cold-start recall@50 against popularity."""
    out: list[str] = []
    cold = _load(f"coldstart_{data}.json")
    if cold:
        r = cold["results"]
        what = {"new_users": "profile given at serving time", "attributes_only": "attributes only"}
        tuned = study["results"]["models"] if study else {}
        stale = _stale(r.get("params", {}), tuned)
        provenance = (
            "; configurations not recorded in this run"
            if "params" not in r
            else f"; **drawn with configurations other than Table 1's for {', '.join(stale)}**"
            if stale
            else ""
        )
        for protocol, label in what.items():
            curves = sorted(r[protocol]["curves"].items(), key=lambda x: -x[1][-1])
            ratio = r[protocol].get("recall@50_over_popularity", {})
            best = max((v for k, v in ratio.items() if k.startswith("reconet")), default=float("nan"))
            shown = ", ".join(f"{n} {c[-1]:.4f}" for n, c in curves[:6])
            out.append(
                f"| Cold-start recall@50, {data}, {label} ({r['cold_users']} cold users, mean of "
                f"{len(r['seeds'])} seed(s)) | {shown}; best RecoNet / popularity **{best:.2f}x**{provenance} "
                f"| >= 1.5x popularity, above every other model | `coldstart_{data}.json` |"
            )
    return out


def _frontier_rows(data: str) -> list[str]:
    """The accuracy-against-fit-time fronts (benchmarks/cost_frontier.py): each model's best within each budget."""
    frontier = _load(f"cost_frontier_{data}.json")
    if not frontier:
        return []
    r = frontier["results"]
    ref = r["reference"]
    budgets = []
    for label in next(iter(r["models"].values()))["within"]:
        shown = []
        for model, study in r["models"].items():
            best = study["within"].get(label)
            shown.append(
                f"{model} none"
                if best is None
                else f"{model} {best['validation']:.4f} (test {best['test']:.4f}, {best['fit_seconds']:.1f} s)"
            )
        budgets.append(f"within {label} ({float(label[:-1]) * ref['fit_seconds']:.1f} s): {', '.join(shown)}")
    # a trial left running by a killed run never ended, and is not counted (the study does not count it either)
    trials = {
        sum(t["state"] in ("complete", "pruned", "fail") for t in study["trials"]) for study in r["models"].values()
    }
    return [
        f"| Accuracy against fit time on {data}: each model's Table 1 space searched for validation recall@50 and "
        f"fit seconds at once ({'/'.join(map(str, sorted(trials)))} multi-objective TPE trials each, one at a time; "
        f"fits past {r['cap_multiple']:g}x the reference stopped); the front's most accurate trial within each "
        f"multiple of the reference, validation recall@50 (test, fit) | reference: Table 1's {ref['model']}, "
        f"{ref['fit_seconds']:.2f} s a fit (test {ref['test']:.4f}); {'; '.join(budgets)} "
        f"| report | `cost_frontier_{data}.json` |"
    ]


def _stale(used: dict, tuned: dict) -> list[str]:
    """The models whose parameters in a run (`used`, by name) are not their Table 1 ones (`tuned`)."""
    return [name for name, params in used.items() if name in tuned and params != tuned[name]["params"]]


def _capacity_rows(data: str, grid: dict | None, study: dict | None) -> list[str]:
    """One row per probe: a model's Table 1 configuration refitted with one parameter changed."""
    out = []
    tuned = study["results"]["models"] if study else {}
    for path in sorted(BENCHMARKS.glob(f"*/results/tuning_budget_{data}_*.json")):
        result = json.loads(path.read_text())["results"]
        probes = list(result.get("probes", {}).values())
        if result.get("capacity"):  # a file from before probes were kept by parameter
            probes.append(result["capacity"])
        for probe in probes:
            name, parameter = result["model"], probe["parameter"]
            shown = ", ".join(
                f"{row['value']:g}: {row['validation']:.4f} ({row['recall@50_median']:.4f})" for row in probe["rows"]
            )
            versus = ""
            if grid:
                g = grid["results"]
                versus = f"; the iALS grid {g['validation']:.4f} ({g['recall@50_median']:.4f})"
            current = name in tuned and tuned[name]["params"] == probe["params"]
            which = "Table 1's configuration" if current else "Table 1's sampler-only configuration (before growth)"
            out.append(
                f"| {name} on {data}: {which} ({parameter}={probe['params'][parameter]}: "
                f"{probe['validation']:.4f} ({probe['recall@50_median']:.4f})) refitted with only {parameter} "
                f"changed; validation recall@50 (test median) | {shown}{versus} | diagnostic: what the search "
                f"missed | `{path.name}` |"
            )
    return out


ISSUE_15_IALS_BAR = {"ml-100k": 0.54, "ml-1m-half": 0.44}  # the test recall@50 issue 15 asks of tuned iALS


def _budget(results: dict) -> str:
    """A table's tuning budget per model: sampler trials, and growth trials where it had them."""
    grow = f" + {results['grow']} growth trials (capacity doubled while it helps)" if results.get("grow") else ""
    return f"{results['trials']} Optuna trials ({_sampler(results)}){grow}"


def _sampler(results: dict) -> str:
    names = {"tpe_multivariate": "multivariate TPE", "gp": "Gaussian-process BO"}
    return names.get(results.get("sampler", "tpe"), "TPE")


def _scale_rows() -> list[str]:
    out = []
    scaling = _load("scale_scaling.json")
    if scaling:
        r = scaling["results"]
        runs, est = r["runs"], r["estimate"]
        out.append(
            f"| RecoNet training throughput, synthetic catalogue {r['catalogue']['n_users']:,} users x "
            f"{r['catalogue']['n_items']:,} items, one epoch: 1 process x 1 thread / 1 x 2 threads / "
            f"2 gloo processes x 1 thread | **{runs['1x1']['examples_per_second']:,.0f} / "
            f"{runs['1x2']['examples_per_second']:,.0f} / {runs['2x1']['examples_per_second']:,.0f} examples/s** "
            f"(2 processes: {est['measured_speedup_2_processes']:.2f}x one) | report | `scale_scaling.json` |"
        )
        eight, many = est["workers_8"], est["workers_64"]
        out.append(
            f"| Estimate from those measurements ({est['allreduce_bytes_per_step'] / 2**20:.1f} MiB all-reduced "
            f"per step): 8 workers at 100 GB/s, 64 workers at 12.5 GB/s | 8: {eight['speedup_over_1']:.1f}x "
            f"({eight['communication_share']:.0%} communication); 64: {many['speedup_over_1']:.1f}x "
            f"({many['communication_share']:.0%} communication) | report | `scale_scaling.json` |"
        )
    big = _load("scale_catalogue.json")
    if big:
        r = big["results"]
        c, t, e = r["catalogue"], r["train"], r["explain_all"]
        out.append(
            f"| Sampled softmax ({t['negatives']} negatives), {c.get('n_items', 0):,} items x "
            f"{c.get('n_users', 0):,} users streamed from {c.get('shards', '?')} Parquet shards: "
            f"{t['examples']:,} training examples, {t['epochs']} epoch(s) | **peak memory "
            f"{r['peak_rss_gib']:.1f} GiB**, {t['examples_per_second']:,.0f} examples/s; recall@50 "
            f"{r['recall@50']['reconet_sampled']:.4f} vs popularity {r['recall@50']['popularity']:.4f} "
            f"| < 24 GiB | `scale_catalogue.json` |"
        )
        out.append(
            f"| `explain-all` on that model (top-10 items over the full catalogue, top-3 reasons), "
            f"{e['rows']:,} explanations | **{e['explanations_per_second_per_core']:,.0f} explanations/s per core** "
            f"({e['rows_per_second']:,.0f}/s on {e['cores']} cores) | report | `scale_catalogue.json` |"
        )
    return out


def _glider_rows() -> list[str]:
    out = []
    synthetic = _load("glider_synthetic.json")
    if synthetic:
        r = synthetic["results"]
        seeds = r["per_seed"]
        ranks = sorted({rank for s in seeds.values() for rank in s["trained_model"]["higher_order_ranks"].values()})
        per_instance = [s["trained_model"]["timing"]["seconds_per_instance"] * 1e3 for s in seeds.values()]
        out.append(
            f"| GLIDER on a DeepFM trained on synthetic CTR data ({len(seeds)} seeds): planted-pair ROC-AUC; "
            f"rank of the planted 3-way interaction | **AUC {r['pair_auc_mean']:.3f}** (min {r['pair_auc_min']:.3f}); "
            f"3-way at rank {', '.join(map(str, ranks))}; {np.mean(per_instance):.0f} ms per instance "
            f"| AUC >= 0.95, every 3-way in top 10 | `glider_synthetic.json` |"
        )
    for data in ("criteo", "frappe"):
        result = _load(f"glider_{data}.json")
        if not result:
            continue
        r = result["results"]
        timing = r["detection"]["timing"]
        instances = r["detection"]["settings"]["instances"]
        out.append(
            f"| GLIDER detection, {data}, {instances:,} instances, {len(r['fields'])} fields, 2 cores "
            f"| **{timing['seconds']:.0f} s** ({timing['seconds_per_instance'] * 1e3:.0f} ms per instance) "
            f"| < 10 min | `glider_{data}.json` |"
        )
        models = r["encode"]["models"]
        gains = ", ".join(
            f"{k} {v['baseline']['auc_mean']:.4f}→{v['crossed']['auc_mean']:.4f} ({v['auc_gain']['mean']:+.4f} "
            f"± {v['auc_gain']['std']:.4f})"
            for k, v in models.items()
        )
        out.append(
            f"| Test AUC without → with GLIDER's top-{len(r['encode']['interactions'])} crosses, {data}, "
            f"{len(r['encode']['seeds'])} seeds | improved **{len(r['improved_models'])} of {len(models)}** models: "
            f"{gains} | >= 3 models improve | `glider_{data}.json` |"
        )
    return out


# Published reference, not a measurement of ours: SPINRec (Barkan et al., AAAI 2026), ML-1M, Mult-VAE,
# POS@5 (AUC over Ke = 1..5; lower is better), as quoted in whyrec issue 18.
SPINREC_ML1M_VAE_POS5 = {"SHAP": 0.602, "LIME": 0.502, "LXR": 0.348, "FIA": 0.234, "SPINRec": 0.189}
_FIDELITY_COLUMNS = ("POS@5", "POS@10", "POS@20", "NEG@5", "DEL", "INS", "DEL_relative", "CDCG")


def fidelity_rows(data: str = "ml-1m-half") -> list[str]:
    """Every method on every profile model, and SPINRec's published Mult-VAE column beside ours."""
    study = _load(f"explanations_{data}.json")
    if not study or "fidelity" not in study["results"]:
        return [f"(no fidelity results for {data} yet: run benchmarks/explanations.py)"]
    pairs = study["results"]["pairs"]
    out = [
        f"Measured on {data} (`explanations_{data}.json`, {study['results']['pairs']} test users' top-1 "
        "recommendation, steps Ke = 1..5, each value the mean over Ke; lower is better for POS, DEL and CDCG, "
        "higher for NEG and INS):",
        "",
        "| model | method | " + " | ".join(_FIDELITY_COLUMNS) + f" | seconds for {pairs} pairs |",
        "|---|---|" + "---|" * (len(_FIDELITY_COLUMNS) + 1),
    ]
    for label, entry in study["results"]["fidelity"].items():
        ranked = sorted(entry["methods"].items(), key=lambda kv: kv[1]["POS@5_auc"])
        for method, v in ranked:
            cells = " | ".join(f"{v[f'{c}_auc']:.3f}" for c in _FIDELITY_COLUMNS)
            seconds = v["seconds"]
            if label == "RecoNet" and method in study["results"]["methods"]:  # explained once, timed there
                seconds = study["results"]["methods"][method]["speed"]["loop_seconds_per_pair"] * pairs
            out.append(f"| {label} | {method} | {cells} | {seconds:.2f} |")
    vae = study["results"]["fidelity"].get("MultVAE", {}).get("methods", {})
    if vae:
        ours = ", ".join(f"{m} {v['POS@5_auc']:.3f}" for m, v in sorted(vae.items(), key=lambda kv: kv[1]["POS@5_auc"]))
        theirs = ", ".join(f"{m} {v:.3f}" for m, v in SPINREC_ML1M_VAE_POS5.items())
        out += [
            "",
            f"Mult-VAE POS@5 beside the published ML-1M table: **whyrec ({data})**: {ours}. "
            f"**SPINRec paper (ML-1M, published)**: {theirs}.",
        ]
    return out


def attribute_output_rows() -> list[str]:
    """The paper's output layer beside the attribute-aware one (by-kind pooling, the masked objective), per
    dataset of Table 1."""
    out = [
        "| data | `reconet_attributes` (paper's layer) | `reconet_attribute_output` (the default) "
        "| `reconet_by_kind` | `reconet_masked` (masked objective) | `reconet_masked_fast` (the same, dim <= 256, "
        "<= 40 epochs) | best other model | rank of the best of these |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for data in ("ml-100k", "ml-1m-half", "synthetic"):
        study = _load(f"accuracy_{data}.json")
        if not study:
            continue
        models, ranking = study["results"]["models"], study["results"]["ranking_by_median_recall@50"]
        present = [n for n in ranking if n in RECONET_VARIANTS]
        other = next(n for n in ranking if n not in RECONET_VARIANTS)
        cells = []
        for name in RECONET_VARIANTS:
            row = models.get(name)
            if row is None:
                cells.append("not measured yet")
                continue
            edge = f" ({', '.join(row['boundary'])} at the edge of its range)" if row.get("boundary") else ""
            value = f"{row['recall@50_median']:.4f}"
            cells.append(f"{f'**{value}**' if present and name == present[0] else value}{edge}")
        place = f"{ranking.index(present[0]) + 1} of {len(ranking)}" if present else "-"
        best = f"{other} {models[other]['recall@50_median']:.4f}"
        out.append(f"| {data} | {' | '.join(cells)} | {best} | {place} |")
    return out


def cost_frontier_rows(data: str = "ml-1m-half") -> list[str]:
    """Each model's most accurate front trial within each multiple of the reference fit
    (benchmarks/cost_frontier.py): validation recall@50, test recall@50 of the same fit, fit seconds."""
    frontier = _load(f"cost_frontier_{data}.json")
    if not frontier:
        return ["(not measured yet: `python benchmarks/cost_frontier.py`)"]
    r = frontier["results"]
    models = list(r["models"])
    out = [
        f"| fit budget ({data}) | {' | '.join(f'`{m}`' for m in models)} |",
        f"|---|{'---|' * len(models)}",
    ]
    for label in r["models"][models[0]]["within"]:
        cells = []
        for model in models:
            best = r["models"][model]["within"].get(label)
            cells.append(
                "none"
                if best is None
                else f"{best['validation']:.4f} ({best['test']:.4f}), {best['fit_seconds']:.1f} s"
            )
        seconds = float(label[:-1]) * r["reference"]["fit_seconds"]
        out.append(f"| {label} the reference ({seconds:.1f} s) | {' | '.join(cells)} |")
    return out


def model_selection_rows() -> list[str]:
    """Plain `whyrec train` (its default budget) against every tuned Table 1 row, per data set."""
    out = []
    for data in ("ml-100k", "ml-1m-half", "synthetic"):
        result = _load(f"model_selection_{data}.json")
        if not result:
            continue
        r = result["results"]
        best = r["table1"][r["table1_best"]]
        runs = r["runs"]
        winners = ", ".join(sorted({run["winner"] for run in runs}))
        low = best["recall@50_median"] - best["recall@50_std"]
        met = (
            "met"
            if r["test_recall@50_median"] >= low and r["wall_seconds_median"] <= best["search_seconds"]
            else ("**not met**")
        )
        per_seed = ", ".join(f"{run['test_recall@50']:.4f}" for run in runs)
        out.append(
            f"| Plain `whyrec train` on {data} (default budget), median of {len(runs)} seeds: test recall@50, "
            f"wall time | **{r['test_recall@50_median']:.4f} in {r['wall_seconds_median']:.0f} s** (seeds: {per_seed}; "
            f"winners: {winners}) vs the best tuned Table 1 row, {r['table1_best']} {best['recall@50_median']:.4f} "
            f"± {best['recall@50_std']:.4f}, searched in {best['search_seconds']:.0f} s | at least that row within "
            f"its spread, in at most its search time ({met}) | `model_selection_{data}.json`, `accuracy_{data}.json` |"
        )
        blends = [
            (run["candidates_test_recall@50"], name)
            for run in runs
            for name in run["candidates_test_recall@50"]
            if name.startswith("blend ")
        ]
        better = sum(
            1
            for scores, name in blends
            if all(scores[name] > scores.get(m, float("inf")) for m in name.removeprefix("blend ").split(" + "))
        )
        out.append(
            f"| Blends against their members on {data}: test recall@50 of each blend of two of the three best "
            f"families | **{better} of {len(blends)} blends beat both members** | report "
            f"| `model_selection_{data}.json` |"
        )
    return out


def peers_rows() -> list[str]:
    """Each peer beside its library on one split, and iALS's exact reasons against implicit's."""
    out = []
    for data in ("ml-100k", "ml-1m-half"):
        result = _load(f"peers_{data}.json")
        if not result:
            continue
        r, source = result["results"], f"`peers_{data}.json`"
        bpr = r["bpr"]
        bpr_met = "met" if bpr["whyrec"]["recall@50"] >= bpr["cornac"]["recall@50"] else "**not met**"
        config = ", ".join(f"{k} {v}" for k, v in bpr["config"].items())
        out.append(
            f"| BPR on {data} (seed {result['seed']} split; {config}): test recall@50, fit s | whyrec "
            f"**{bpr['whyrec']['recall@50']:.4f}** ({bpr['whyrec']['fit_seconds']:.1f} s), cornac "
            f"{bpr['cornac']['recall@50']:.4f} ({bpr['cornac']['fit_seconds']:.1f} s), implicit "
            f"{bpr['implicit']['recall@50']:.4f} ({bpr['implicit']['fit_seconds']:.1f} s) "
            f"| at least cornac's ({bpr_met}) "
            f"| {source} |"
        )
        knn = r["item_knn"]
        met = "met" if knn["whyrec"]["recall@50"] >= knn["implicit"]["recall@50"] else "**not met**"
        out.append(
            f"| Cosine item-kNN on {data} ({knn['neighbours']} neighbours): test recall@50, fit s | whyrec "
            f"**{knn['whyrec']['recall@50']:.4f}** ({knn['whyrec']['fit_seconds']:.2f} s), implicit "
            f"{knn['implicit']['recall@50']:.4f} ({knn['implicit']['fit_seconds']:.2f} s; its K counts the item "
            f"itself, ours does not) | at least implicit's ({met}) | {source} |"
        )
        ials = r["ials_reasons"]
        exact = max(ials["max_gap_relevance_sum_to_score"], ials["max_gap_explained_to_ranked_score"])
        out.append(
            f"| Exact iALS reasons on {data} at {ials['factors']} factors, {ials['pairs']} pairs: ms a pair | "
            f"**{ials['whyrec_ms_per_pair']:.2f} ms** one call a pair, {ials['whyrec_batched_ms_per_pair']:.2f} ms "
            f"batched; implicit's `explain` {ials['implicit_explain_ms_per_pair']:.1f} ms; largest gap of the summed "
            f"reasons to the ranked score {exact:.1e}, to implicit's score "
            f"{ials['max_gap_to_implicit_explain_score']:.1e} "
            f"| <= 5 ms, exact | {source} |"
        )
    return out


def edits_rows() -> list[str]:
    """Why-not and counterfactual latency per family on a ~10k-item catalogue."""
    out = []
    for path in sorted((BENCHMARKS / "edits" / "results").glob("edits_synthetic-*.json")):
        result = json.loads(path.read_text())
        items = path.stem.split("-")[-1]
        for family, r in result["results"].items():
            if "why_not_seconds_p50" not in r:
                continue
            slow = max(r["why_not_seconds_p50"], r["counterfactual_seconds_p50"])
            added, removed = r["verified"]["why_not"], r["verified"]["counterfactual"]
            met = "met" if slow <= 1.0 else "**not met**"
            out.append(
                f"| {family} on a synthetic shop of {items} items: why-not / counterfactual, p50 (p90) s | "
                f"**{r['why_not_seconds_p50']:.2f} ({r['why_not_seconds_p90']:.2f}) / "
                f"{r['counterfactual_seconds_p50']:.2f} ({r['counterfactual_seconds_p90']:.2f})**; verified "
                f"{added} why-not addition{'s' * (added != 1)}, {removed} counterfactual{'s' * (removed != 1)} "
                f"| <= 1 s p50 ({met}) | `{path.name}` |"
            )
    return out


def reconet_default_rows() -> list[str]:
    """RecoNet's default fit against tuned iALS's, and on a 10k-item shop."""
    result = _load("reconet_default.json")
    if not result:
        return []
    out, r = [], result["results"]
    for data in ("ml-100k", "ml-1m-half"):
        if data not in r:
            continue
        d = r[data]
        gap = (d["table1_reconet_recall@50_median"] - d["reconet_default_recall@50_median"]) * 100
        met = "met" if d["fit_ratio_to_ials"] <= 4 and gap <= 1 else "**not met**"
        paper = d["paper_objective_defaults_seed0"]
        out.append(
            f"| `RecoNet()` on {data}, median of {len(d['runs'])} seeds: fit s and test recall@50 | "
            f"**{d['reconet_default_fit_seconds_median']:.1f} s ({d['fit_ratio_to_ials']:.1f}x tuned iALS's "
            f"{d['ials_tuned_fit_seconds_median']:.1f} s), {d['reconet_default_recall@50_median']:.4f}**, "
            f"{gap:.2f} points below its Table 1 row ({d['table1_reconet_row']} "
            f"{d['table1_reconet_recall@50_median']:.4f}, fit {d['table1_reconet_fit_seconds_mean']:.0f} s); the "
            f"paper's objective at its defaults: {paper['fit_seconds']:.1f} s, {paper['recall@50']:.4f} "
            f"| <= 4x iALS's fit, within 1 point ({met}) | `reconet_default.json` |"
        )
    shop = r["shop"]
    out.append(
        f"| `RecoNet()` on a synthetic file of {shop['interactions']:,} interactions and {shop['items']:,} items "
        f"(2 cores): fit s | **{shop['fit_seconds']:.1f} s** (test recall@50 {shop['recall@50']:.4f}) "
        f"| < 60 s ({'met' if shop['fit_seconds'] < 60 else '**not met**'}) | `reconet_default.json` |"
    )
    return out


def _plausible(row: dict) -> str:
    """One method's plausibility cells: neighbours, genre, franchise or planted drivers (with chance)."""
    cells = [
        f"{row['neighbours']['share']:.3f} ({row['neighbours']['chance']:.3f})",
        f"{row['genre']['share']:.3f} ({row['genre']['chance']:.3f})",
    ]
    test = row.get("franchise") or row.get("planted")
    if test is None:
        cells.append("-")
    elif "chance" in test:
        cells.append(f"{test['share']:.3f} ({test['chance']:.3f}; {test['pairs']})")
    else:
        cells.append(f"{test['share']:.3f} ({test['pairs_with_driver']})")
    return " | ".join(cells)


def _exact(entry: dict) -> tuple[str, dict]:
    """A model's exact method (the one its explanations use by default) and its row."""
    for method in ("blend", "lrp", "decomposition", "occlusion"):
        if method in entry["methods"]:
            return method, entry["methods"][method]
    return next(iter(entry["methods"].items()))


def _default_beside_ials(data: str) -> tuple[dict, str, str, dict, dict] | None:
    """A plausibility run's models, the default's label, its exact method and row, and the row of
    iALS's decomposition (empty where iALS was not kept)."""
    result = _load(f"plausibility_{data}.json")
    if not result:
        return None
    models = result["results"]["models"]
    default = next(label for label in models if label.startswith("default"))
    method, row = _exact(models[default])
    ials = models.get("ials", {}).get("methods", {}).get("decomposition") or {}
    return models, default, method, row, ials


def _believed() -> tuple[str, str] | None:
    """The default's plausibility on ml-1m-half beside iALS's decomposition: what, measured."""
    found = _against_ials("ml-1m-half")
    if not found:
        return None
    row, ials, paired = found
    target = (
        "Default model's top-3 reasons, ml-1m-half, every pair: among co-occurrence neighbours / name the "
        "series' earlier film, against iALS's decomposition on shared pairs, beside POS@5 (lower is better)"
    )
    return target, f"{_against_line(row, ials, paired)}{_met(paired)}"


def _against_ials(data: str) -> tuple[dict, dict, dict] | None:
    """The default's row, iALS's and their paired differences from `against_ials_DATA.json`."""
    result = _load(f"against_ials_{data}.json")
    if not result or "paired" not in result["results"]:
        return None
    models = result["results"]["models"]
    default = next(label for label in models if label.startswith("default"))
    return {"label": default, **models[default]}, models["ials"], result["results"]["paired"]


def _interval(measure: dict) -> str:
    """A share with its 95% interval."""
    se = measure.get("se")
    return f"{measure['share']:.3f}" + ("" if se is None else f" ± {1.96 * se:.3f}")


def _gap(gap: dict) -> str:
    return f"{gap['difference']:+.3f} ± {1.96 * gap['se']:.3f} ({gap['pairs']} pairs)"


def _against_line(row: dict, ials: dict, paired: dict) -> str:
    """The default beside iALS: each test on every pair, the paired differences, POS@5."""
    return (
        f"neighbours {_interval(row['neighbours'])} vs {_interval(ials['neighbours'])}, paired "
        f"{_gap(paired['neighbours'])}; franchise {_interval(row['franchise'])} vs {_interval(ials['franchise'])} "
        f"on each model's own pairs, paired {_gap(paired['franchise'])}; POS@5 {row['POS@5']:.3f} vs "
        f"{ials['POS@5']:.3f}"
    )


def _met(paired: dict) -> str:
    """Whether the default's reasons agree with both tests at least as often as iALS's decomposition,
    on the pairs both explain."""
    met = all(paired[test]["difference"] >= 0 for test in ("neighbours", "franchise"))
    return " (met)" if met else " (**not met**)"


def plausibility_rows() -> list[str]:
    """The default model's reasons beside the exact iALS decomposition's, per data set."""
    out = []
    for data in ("ml-1m-half", "ml-100k"):
        found = _against_ials(data)
        if not found:
            continue
        row, ials, paired = found
        goal = "at least iALS's, both, on shared pairs" + _met(paired) if data == "ml-1m-half" else "report"
        out.append(
            f"| Default model ({row['label'].removeprefix('default: ')}, {row['method']}) on {data}, every pair: "
            f"top-3 reasons among co-occurrence neighbours / franchise test, against iALS's decomposition "
            f"(95% intervals) | {_against_line(row, ials, paired)}; recall@50 {row['recall@50']:.4f} vs "
            f"{ials['recall@50']:.4f} | {goal} | `against_ials_{data}.json` |"
        )
    found = _default_beside_ials("synthetic")
    if found:
        models, default, method, row, ials = found
        other = (ials.get("planted") or {}).get("share", float("nan"))
        out.append(
            f"| Default model ({default.removeprefix('default: ')}, {method}) on synthetic: top-3 reasons among "
            f"co-occurrence neighbours / planted driver test, beside POS@5 and recall@50 | "
            f"**{row['neighbours']['share']:.3f} (chance {row['neighbours']['chance']:.3f}) / "
            f"{(row.get('planted') or {}).get('share', float('nan')):.3f}**; iALS decomposition "
            f"{ials['neighbours']['share']:.3f} / {other:.3f}; POS@5 {row['POS@5']:.3f}, recall@50 "
            f"{models[default]['recall@50']:.4f} | report | `plausibility_synthetic.json` |"
        )
    return out


def against_ials_table(data: str) -> list[str]:
    """Every model the selection kept, its exact method on every pair, with 95% intervals."""
    result = _load(f"against_ials_{data}.json")
    if not result:
        return [f"(no results for {data} yet: run benchmarks.plausibility.against_ials)"]
    out = [
        f"`against_ials_{data}.json` (at {result['git_revision']}): each model's exact method on the top "
        "recommendation of every explainable "
        "test user (neighbours, genre, fidelity) and on every pair of its franchise test; shares with 95% "
        "intervals, chance in brackets.",
        "",
        "| model | recall@50 | method | neighbours | genre | franchise (chance; pairs) | POS@5 | DEL | INS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, row in result["results"]["models"].items():
        franchise = row["franchise"]
        out.append(
            f"| {label} | {row['recall@50']:.4f} | {row['method']} | {_interval(row['neighbours'])} "
            f"({row['neighbours']['chance']:.3f}) | {_interval(row['genre'])} ({row['genre']['chance']:.3f}) | "
            f"{_interval(franchise)} ({franchise['chance']:.3f}; {franchise['pairs']}) | {row['POS@5']:.3f} | "
            f"{row['DEL']:.3f} | {row['INS']:.3f} |"
        )
    paired = result["results"].get("paired")
    if paired:
        out += [
            "",
            f"The default minus iALS on the pairs both explain: neighbours {_gap(paired['neighbours'])} (the "
            f"same users), franchise {_gap(paired['franchise'])} (the same user and film).",
        ]
    return [*out, ""]


def plausibility_table(data: str = "ml-1m-half") -> list[str]:
    """Every model the default selection kept, every method: plausibility beside fidelity."""
    result = _load(f"plausibility_{data}.json")
    if not result:
        return [f"(no plausibility results for {data} yet: run benchmarks.plausibility.run)"]
    test = "planted driver in top 3 (pairs)" if data == "synthetic" else "franchise (chance; pairs)"
    out = [
        f"Measured on {data} (`plausibility_{data}.json`): each model's top recommendation for the same test "
        "users; the share of the top-3 history reasons among the target's 20 strongest co-occurrence neighbours "
        "and sharing a genre with it, each with its chance level in brackets; the franchise test on its own "
        "pairs; fidelity on the same pairs (POS@5 lower is better, INS higher); popularity: the mean "
        "popularity percentile of the top-3 reasons beside the history's. Slow methods explain fewer pairs. "
        f"Measured at {result['git_revision']}; each run selects its own default within `whyrec train`'s time "
        "budget, so the default of one results file can differ from another's.",
        "",
        f"| model | recall@50 | method | neighbours | genre | {test} | popularity (history) | POS@5 | DEL | INS "
        "| pairs | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, entry in result["results"]["models"].items():
        ranked = sorted(entry["methods"].items(), key=lambda kv: -kv[1]["neighbours"]["share"])
        for method, row in ranked:
            popularity = f"{row['popularity']['share']:.2f} ({row['popularity']['chance']:.2f})"
            out.append(
                f"| {label} | {entry['recall@50']:.4f} | {method} | {_plausible(row)} | {popularity} "
                f"| {row['POS@5']:.3f} | {row['DEL']:.3f} | {row['INS']:.3f} | {row['pairs']} | {row['seconds']:.1f} |"
            )
    return out


def decay_table(data: str = "ml-1m-half", family: str = "") -> list[str]:
    """RecoNet's weight decay against its reasons, fidelity and accuracy (the default's choice)."""
    name = f"decay_{data}{'_' + family if family else ''}.json"
    result = _load(name)
    if not result:
        return []
    out = [
        f"### RecoNet's weight decay, {data}{', ' + family if family else ''}",
        "",
        f"`{name}` (at {result['git_revision']}): each configuration at each weight decay, one seed; the LRP "
        "reasons of the same "
        "test users' top recommendation (chance in brackets), the franchise test on its own pairs.",
        "",
        "| configuration | weight decay | recall@50 | neighbours | genre | franchise (chance; pairs) "
        "| popularity (history) | POS@5 | DEL | INS | best epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, rows in result["results"].items():
        for decay, row in rows.items():
            popularity = f"{row['popularity']['share']:.2f} ({row['popularity']['chance']:.2f})"
            out.append(
                f"| {label} | {decay} | {row['recall@50']:.4f} | {_plausible(row)} | {popularity} | {row['POS@5']:.3f} "
                f"| {row['DEL']:.3f} | {row['INS']:.3f} | {row['best_epoch']} |"
            )
    return [*out, ""]


def codebase_rows() -> list[str]:
    """The codebase's own figures, before and after the layout redesign (benchmarks/codebase)."""
    before, now = _load("codebase_before.json"), _load("codebase_now.json")
    if not now:
        return []
    figures = [
        ("README size", lambda r: f"{r['readme_bytes'] / 1024:.1f} KB", "<= 12 KB"),
        ("guide pages in docs/ outside the reference", lambda r: str(r["guide_pages"]), ">= 7"),
        (
            "functions in src/ over 100 lines / over 60",
            lambda r: f"{r['functions_over_100_lines']} / {len(r['functions_over_60_lines'])}",
            "0 over 100",
        ),
        ("`# fmt: skip` markers in src/", lambda r: str(r["fmt_skip"]), "0"),
        (
            "benchmark and run names in src/ (Table 1, ml-1m-half, ...)",
            lambda r: str(sum(r["benchmark_names"].values())),
            "0",
        ),
        ("docstrings quoting a measured value", lambda r: str(len(r["measured_docstrings"])), "0"),
        ("`whyrec --help`, median of fresh processes", lambda r: f"{r['cli']['help']['median_s']:.2f} s", "<= 1 s"),
        (
            "`whyrec train --help` / an argument error",
            lambda r: f"{r['cli']['train_help']['median_s']:.2f} s / {r['cli']['argument_error']['median_s']:.2f} s",
            "<= 1 s",
        ),
        (
            "`python -X importtime -m whyrec --help` imports torch",
            lambda r: "yes" if r["cli"]["help_imports_torch"] else "no",
            "no",
        ),
    ]
    out = []
    for label, show, goal in figures:
        was = f"{show(before['results'])} → " if before else ""
        source = "`codebase_before.json`, `codebase_now.json`" if before else "`codebase_now.json`"
        out.append(f"| {label} | {was}**{show(now['results'])}** | {goal} | {source} |")
    subjects = now["results"]["commit_subjects"]
    if subjects.get("commits"):
        out.append(
            f"| commit subjects since the redesign began ({subjects['commits']} commits): median / longest "
            f"| **{subjects['median']:.0f} / {subjects['max']} characters** | <= 72 | `codebase_now.json` |"
        )
    return out


@dataclass(frozen=True)
class Question:
    """One benchmark folder: what it asks and how to rerun it."""

    title: str
    question: str
    run: tuple[str, ...]


QUESTIONS = {
    "accuracy": Question(
        "Table 1: accuracy of every model under one tuning budget",
        "Which model ranks held-out interactions best on each data set, when every model gets the same number "
        "of Optuna trials? (RecoNet paper, section 5.1 and Table 1.)",
        (
            "python -m benchmarks.accuracy.run --data movielens:../shared/datasets/ml-100k --name ml-100k",
            "python -m benchmarks.accuracy.run --data movielens:../shared/datasets/ml-1m --name ml-1m-half",
            "python -m benchmarks.accuracy.run --data synthetic --name synthetic",
        ),
    ),
    "coldstart": Question(
        "Figure 4: cold-start users",
        "How well are users ranked whose whole history was left out of training, from their profile at serving "
        "time or their attributes alone? (RecoNet paper, section 5.2 and Figure 4.)",
        ("python -m benchmarks.coldstart.run --data movielens:../shared/datasets/ml-100k --name ml-100k",),
    ),
    "model_selection": Question(
        "The default: whyrec train chooses the model",
        "Does plain `whyrec train`, within its default budget, reach the best tuned model of Table 1 on "
        "each data set, in no more time than that model's search took? And do blends beat their members?",
        ("python -m benchmarks.model_selection.run --data ml-100k ml-1m synthetic --seeds 3",),
    ),
    "peers": Question(
        "Every peer at its library's strength",
        "Does each baseline rank as well as the best library that implements it, on the same split? And are "
        "iALS's exact reasons as fast as implicit's own `explain`, or faster?",
        ("python -m benchmarks.peers.run --data ml-1m --seed 0",),
    ),
    "edits": Question(
        "Why-not and counterfactuals on a large catalogue",
        "How long do why-not and counterfactual answers take, per model family, on a catalogue of ~10k items?",
        ("python -m benchmarks.edits.run --items 10000 --users 10000 --pairs 20",),
    ),
    "reconet_default": Question(
        "RecoNet fast by default",
        "Does `RecoNet()` with its defaults fit within a few times tuned iALS's fit, within a point of its tuned "
        "Table 1 row, and fit a 100k-interaction, 10k-item file in under a minute?",
        ("python -m benchmarks.reconet_default.run --data ml-100k ml-1m --seeds 3",),
    ),
    "cost_frontier": Question(
        "Accuracy against fit time",
        "What is the most accurate configuration of each model that fits in t seconds?",
        ("python -m benchmarks.cost_frontier.run --data ml-1m --trials 40",),
    ),
    "tuning_budget": Question(
        "The tuner against a grid, and what more trials buy",
        "Does the Optuna search find what a grid finds, and is a shortfall its budget or its sampler?",
        (
            "python -m benchmarks.tuning_budget.ials_grid --data ml-1m --seeds 3",
            "python -m benchmarks.tuning_budget.run --data ml-1m --model ials --budgets 40 80 120",
        ),
    ),
    "training_speed": Question(
        "Training speed",
        "How long does each model's tuned configuration take to fit, against tuned iALS?",
        ("python -m benchmarks.training_speed.run --data ml-1m --seed 0 --repeat 1 --sampled 256 --masked",),
    ),
    "softmax_floor": Question(
        "The full softmax's floor",
        "What does the paper's full-softmax objective cost at the least, its cross-entropy alone?",
        ("python -m benchmarks.softmax_floor.run --data ml-1m --seed 0 --repeat 3",),
    ),
    "reconet_movielens": Question(
        "RecoNet on MovieLens",
        "RecoNet's accuracy and time to its best epoch on MovieLens, against popularity (the foundation's targets).",
        ("python -m benchmarks.reconet_movielens.run --data ml-100k ml-1m --seed 0",),
    ),
    "explanations": Question(
        "Explanation quality: pertinence, fidelity, counterfactuals, speed",
        "Do the explanations name what drives the score (deletion and insertion curves, POS/NEG/DEL/INS/CDCG), "
        "are counterfactuals valid, and how fast is each method? (RecoNet paper, section 5.3.)",
        ("python -m benchmarks.explanations.run --data synthetic ml-100k ml-1m --pairs 200 --seed 0",),
    ),
    "plausibility": Question(
        "Plausibility beside fidelity",
        "Do the exact reasons of each model make sense to a person: are they among the target's co-occurrence "
        "neighbours, do they share its genre, do they name the earlier film of its series? And at what cost in "
        "fidelity (POS@5, DEL, INS) and accuracy (recall@50)?",
        (
            "python -m benchmarks.plausibility.run --data ml-1m ml-100k synthetic --pairs 200 --slow-pairs 20 --seed 0",
            "python -m benchmarks.plausibility.against_ials --data ml-1m ml-100k --seed 0",
            "python -m benchmarks.plausibility.decay --data ml-1m --decays 0 1e-6 3e-6 1e-5 --seed 0",
            "python -m benchmarks.plausibility.decay --data ml-100k --family reconet_attribute_output "
            "--decays 1e-10 3e-6 1e-5 3e-5 --seed 0",
        ),
    ),
    "synthetic_drivers": Question(
        "Planted drivers",
        "Does LRP find the drivers planted in the synthetic data?",
        ("python -m benchmarks.synthetic_drivers.run --seeds 0 1 2",),
    ),
    "lrp_speed": Question(
        "Batched LRP speed",
        "How long do 10,000 exact explanations of a full-size model take?",
        ("python -m benchmarks.lrp_speed.run --seed 0",),
    ),
    "insights": Question(
        "Insights on MovieLens 100K",
        "How long does `whyrec insights` take for every user, and are its field importances stable across runs?",
        ("python -m benchmarks.insights.run --seed 0",),
    ),
    "attribution_network": Question(
        "Interpretable attribution networks",
        "Do attribution networks match a black-box MLP's accuracy while reading out their reasons?",
        ("python -m benchmarks.attribution_network.run --task synthetic --seed 0 --seed 1 --seed 2",),
    ),
    "glider": Question(
        "GLIDER: detected interactions, encoded as crosses",
        "Does GLIDER find the interactions a CTR model learned, and do crosses of them help other models?",
        (
            "python -m benchmarks.glider.run --data synthetic --seeds 0 1 2",
            "python -m benchmarks.glider.run --data criteo --top 5",
        ),
    ),
    "serving": Question(
        "The service under load",
        "How fast does the service answer, alone and beside slow explanations, with 1 and 2 workers?",
        (
            "python -m benchmarks.serving.load --clients 32 --seconds 30 --seed 0",
            "python -m benchmarks.serving.live --seconds 30 --seed 0",
        ),
    ),
    "scale": Question(
        "Scale",
        "How does training scale over processes, and can a million-item catalogue train and be explained in 24 GiB?",
        (
            "python -m benchmarks.scale.run scaling --users 100000 --items 20000",
            "python -m benchmarks.scale.run catalogue --users 2000000 --items 1000000",
        ),
    ),
    "gpu": Question(
        "RecoNet on a GPU",
        "Does the one trainer train, resume and explain on CUDA as on the CPU?",
        ("python -m benchmarks.gpu.run --seed 0",),
    ),
    "data_inspect": Question(
        "`whyrec data inspect`",
        "How long does a user wait for a first look at their data?",
        ("python -m benchmarks.data_inspect.run",),
    ),
    "codebase": Question(
        "The codebase itself",
        "Does the product read well and start fast: README size, guide pages, function lengths, the command "
        "line's start-up?",
        (
            "python -m benchmarks.codebase.run --name now --since 44b9dcd",
            "python -m benchmarks.codebase.run --root ../before --python ../before/.venv/bin/python --name before",
        ),
    ),
}
# further tables of one question, below its rows
EXTRA_TABLES = {
    "accuracy": lambda: ["### RecoNet's variants beside the best other model", "", *attribute_output_rows()],
    "cost_frontier": lambda: ["### The most accurate front trial within each budget", "", *cost_frontier_rows()],
    "explanations": lambda: ["### Fidelity of every method on every profile model", "", *fidelity_rows()],
    "plausibility": lambda: [
        *(
            line
            for data in ("ml-1m-half", "ml-100k")
            for line in (f"### The default against iALS on every pair, {data}", "", *against_ials_table(data))
        ),
        *decay_table(),
        *decay_table("ml-100k", "reconet_attribute_output"),
        *(
            line
            for data in ("ml-1m-half", "ml-100k", "synthetic")
            for line in (f"### Every model and method, {data}", "", *plausibility_table(data), "")
        ),
    ],
}
HEADER = "| target | measured | goal | source |"
_JSON = re.compile(r"`?([\w.\-]+\.json)`?")


def _question_of(row: str) -> str | None:
    """The folder of the first result file a row names in its source cell."""
    names = _JSON.findall(row.rsplit("|", 2)[-2])
    path = _find(names[0]) if names else None
    return path.parent.parent.name if path else None


def _linked(row: str, folder: str) -> str:
    """The row with each result file of its source cell a link, relative to `folder`'s README."""

    def link(match: re.Match) -> str:
        path = _find(match.group(1))
        if path is None:
            return match.group(0)
        where = "results" if path.parent.parent.name == folder else f"../{path.parent.parent.name}/results"
        return f"[{match.group(1)}]({where}/{match.group(1)})"

    head, source, tail = row.rsplit("|", 2)
    return "|".join([head, _JSON.sub(link, source), tail])


def question_readme(folder: str, question: Question, rows: list[str]) -> str:
    files = sorted(p.name for p in (BENCHMARKS / folder / "results").glob("*") if p.suffix in (".json", ".md", ".html"))
    lines = [
        f"# {question.title}",
        "",
        question.question,
        "",
        "Rerun from the repository root (the figures below are regenerated by `python -m benchmarks.report`):",
        "",
        "```",
        *question.run,
        "```",
        "",
        "## Results",
        "",
    ]
    lines += [HEADER, "|---|---|---|---|", *(_linked(r, folder) for r in rows)] if rows else ["Not measured yet."]
    if folder in EXTRA_TABLES:
        lines += ["", *EXTRA_TABLES[folder]()]
    lines += ["", "## Files", "", *(f"- [{name}](results/{name})" for name in files)]
    return (
        "<!-- generated by `python -m benchmarks.report` from the files in results/; do not edit -->\n"
        + "\n".join(lines)
        + "\n"
    )


def index(grouped: dict[str, list[str]]) -> str:
    lines = [
        "<!-- generated by `python -m benchmarks.report`; do not edit -->",
        "# Benchmarks",
        "",
        "One folder per question, each with its scripts, its result files and a README whose tables are "
        "generated from them. Every result file records the command, data, seed, machine and git revision that "
        "made it. The benchmarks import whyrec as any user's code would; whyrec never imports them. Run each "
        "script from the repository root as a module, alone on the machine when it times something.",
        "",
        "| question | what it asks | rows |",
        "|---|---|---|",
    ]
    for folder, q in QUESTIONS.items():
        lines.append(f"| [{q.title}]({folder}/README.md) | {q.question} | {len(grouped.get(folder, []))} |")
    lines += ["", "Regenerate every table: `python -m benchmarks.report`."]
    return "\n".join(lines) + "\n"


def glance() -> list[str]:
    """At most ten headline figures for the top README, each linking to its question."""
    out = ["| what | measured | where |", "|---|---|---|"]
    for data in ("ml-100k", "ml-1m-half", "synthetic"):
        chosen = _load(f"model_selection_{data}.json")
        if chosen:
            r = chosen["results"]
            best = r["table1"][r["table1_best"]]
            out.append(
                f"| Plain `whyrec train` on {data} (default budget): test recall@50, median of {len(r['runs'])} seeds "
                f"| {r['test_recall@50_median']:.4f} in {r['wall_seconds_median']:.0f} s (best tuned model: "
                f"{best['recall@50_median']:.4f}) | [model_selection](benchmarks/model_selection/README.md) |"
            )
    study = _load("explanations_ml-1m-half.json")
    if study:
        r = study["results"]
        lrp = r["methods"]["lrp"]
        out.append(
            f"| Deletion-curve area of LRP's reasons vs random order, ml-1m-half (lower: the reasons matter) "
            f"| {lrp['deletion']['area']:.3f} vs {r['random']['deletion']['area']:.3f} "
            f"| [explanations](benchmarks/explanations/README.md) |"
        )
    believed = _believed()
    if believed:
        out.append(f"| {believed[0]} | {believed[1]} | [plausibility](benchmarks/plausibility/README.md) |")
    speed = _load("lrp_speed_ml-1m-half.json")
    if speed:
        r = speed["results"]
        out.append(
            f"| Exact LRP reasons for {r['pairs']:,} recommendations, one batch "
            f"| {r['batched_lrp_seconds'] * 1e3:.0f} ms | [lrp_speed](benchmarks/lrp_speed/README.md) |"
        )
    drivers = _load("synthetic_drivers.json")
    if drivers:
        out.append(
            f"| LRP ranks the planted driver in its top 3 (synthetic) | {drivers['results']['top3_share_mean']:.1%} "
            f"| [synthetic_drivers](benchmarks/synthetic_drivers/README.md) |"
        )
    an = _load("attribution_network_ml-1m-half.json")
    if an and "accuracy_gap_points" in an["results"]:
        out.append(
            f"| Attribution network's accuracy gap to a black-box MLP, ml-1m-half "
            f"| {an['results']['accuracy_gap_points']:.2f} points "
            f"| [attribution_network](benchmarks/attribution_network/README.md) |"
        )
    glider = _load("glider_synthetic.json")
    if glider:
        out.append(
            f"| GLIDER recovers planted interaction pairs (synthetic CTR, ROC-AUC) "
            f"| {glider['results']['pair_auc_mean']:.3f} | [glider](benchmarks/glider/README.md) |"
        )
    load = _load("serve_load_ml-1m-half.json")
    if load and load["results"].get("compute_ms"):
        c = load["results"]["compute_ms"]
        out.append(
            f"| POST /explain under {load['results']['clients']} concurrent clients: compute p50 / p99 "
            f"| {c['p50']:.2f} / {c['p99']:.2f} ms | [serving](benchmarks/serving/README.md) |"
        )
    return out[:12]  # the header and at most ten rows


def _replace(text: str, start: str, end: str, lines: list[str]) -> str:
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {start} ... {end} block")
    block = "\n".join([start, *lines, end])
    return pattern.sub(lambda _: block, text)


def main() -> None:
    grouped: dict[str, list[str]] = {}
    for row in [
        *rows()[2:],
        *model_selection_rows(),
        *peers_rows(),
        *edits_rows(),
        *plausibility_rows(),
        *reconet_default_rows(),
        *codebase_rows(),
    ]:  # rows() begins with its header
        folder = _question_of(row)
        if folder is None:
            raise SystemExit(f"a row names no result file that exists: {row[:120]}")
        grouped.setdefault(folder, []).append(row)
    unknown = set(grouped) - set(QUESTIONS)
    if unknown:
        raise SystemExit(f"rows for folders without a question: {sorted(unknown)}")
    for folder, question in QUESTIONS.items():
        (BENCHMARKS / folder / "README.md").write_text(question_readme(folder, question, grouped.get(folder, [])))
    (BENCHMARKS / "README.md").write_text(index(grouped))
    readme = ROOT / "README.md"
    text = _replace(readme.read_text(encoding="utf-8"), GLANCE_START, GLANCE_END, glance())
    readme.write_text(text, encoding="utf-8")
    print(f"wrote {len(QUESTIONS)} question READMEs, the index and the README's glance")


if __name__ == "__main__":
    main()
