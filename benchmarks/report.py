"""Fill the README's results table from benchmarks/results/*.json (never by hand).

python benchmarks/report.py          # rewrites the block between the results markers
"""

from __future__ import annotations

import json
import re

from _common import RESULTS, ROOT

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def rows() -> list[str]:
    out = ["| target | measured | goal | source |", "|---|---|---|---|"]
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


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    block = "\n".join([START, *rows(), END])
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {START} ... {END} block")
    readme.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
    print(block)


if __name__ == "__main__":
    main()
