"""``whyrec interactions``: the feature interactions of a CTR model (GLIDER), and crosses that encode them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyrec.cli._common import ModelDir, comma_list, console
from whyrec.cli.ctr import model_and_split

app = typer.Typer(help="Feature interactions of CTR models: GLIDER detection and cross-feature encoding.")


@app.command("detect")
def detect(
    model: ModelDir,
    data: Annotated[str | None, typer.Option(help="CTR data spec (default: the model's own).")] = None,
    instances: Annotated[int, typer.Option(help="Test rows explained (GLIDER's N).")] = 1000,
    samples: Annotated[int, typer.Option(help="Perturbations per instance.")] = 600,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="JSON file (default MODEL/interactions.json); HTML beside it.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the instances and perturbations.")] = 0,
) -> None:
    """GLIDER: the interactions a CTR model learned, as JSON and a field graph."""
    from rich.progress import Progress

    from whyrec._io import write_json_atomic
    from whyrec.interactions.encoding import planted_recovery
    from whyrec.interactions.glider import GliderSettings, glider
    from whyrec.viz.interactions import interaction_bars, interaction_graph
    from whyrec.viz.page import write_page

    loaded, split, planted, spec, info = model_and_split(model, data)
    n = min(instances, len(split.test))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("GLIDER", total=n)
        report = glider(
            loaded.predict_logit,
            split.test,
            instances=instances,
            settings=GliderSettings(samples=samples),
            n_jobs=jobs,
            seed=seed,
            progress=lambda done: bar.update(task, completed=done),
        )
    run = {"data": spec, "split_seed": info.get("split_seed", 0), "min_count": info.get("min_count", 2)}
    payload = {**run, "model": str(model), **report.to_dict()}
    if planted:
        payload["planted"] = [list(p) for p in planted]
        payload["recovery"] = planted_recovery(report, planted)
    out = out or model / "interactions.json"
    write_json_atomic(out, payload)
    figures = [interaction_graph(report), interaction_bars(report)]
    html = write_page(out.with_suffix(".html"), f"Interactions of {model.name}", figures)
    for row in report.ranking[:10]:
        console.print(f"{' × '.join(row['fields']):<40} {row['share']:6.1%} of instances")
    console.print(f"{report.timing['seconds_per_instance'] * 1000:.1f} ms per instance; wrote {out} and {html}")
    if planted:
        console.print(f"planted pairs ROC-AUC {payload['recovery']['pair_auc']:.3f}")


@app.command("encode")
def encode(
    interactions: Annotated[Path, typer.Option(help="JSON written by `whyrec interactions detect`.")],
    top: Annotated[int, typer.Option(help="Cross the K strongest interactions.")] = 5,
    architectures: Annotated[
        str, typer.Option(help="Comma-separated target models.")
    ] = "lr,fm,wide_deep,deepfm,dcn,autoint",
    seeds: Annotated[str, typer.Option(help="Comma-separated training seeds.")] = "0,1,2",
    data: Annotated[str | None, typer.Option(help="CTR data spec (default: the detection's).")] = None,
    min_count: Annotated[int, typer.Option(help="Cross values seen fewer times in training map to 'other'.")] = 5,
    out: Annotated[Path | None, typer.Option(help="JSON result (default: beside the interactions file).")] = None,
) -> None:
    """Retrain target models with and without GLIDER's cross fields; AUC and log loss over seeds."""
    import json

    from whyrec._io import write_json_atomic
    from whyrec.data.ctr_loaders import ctr_split
    from whyrec.errors import DataError, ParameterError
    from whyrec.interactions.encoding import encode_study

    try:
        detected = json.loads(interactions.read_text(encoding="utf-8"))
        chosen = [tuple(r["fields"]) for r in detected["interactions"] if len(r["fields"]) >= 2][:top]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{interactions} is not an interactions file from `whyrec interactions detect` ({exc})"
        ) from None
    if top < 1:
        raise ParameterError(f"--top must be at least 1, got {top}")
    try:
        seed_list = [int(v) for v in comma_list(seeds)]
    except ValueError:
        raise ParameterError(f"--seeds takes comma-separated integers, not {seeds!r}") from None
    spec = data or detected.get("data")
    split, _ = ctr_split(spec, seed=detected.get("split_seed", 0), min_count=detected.get("min_count", 2))
    result = encode_study(
        split,
        chosen,
        architectures=comma_list(architectures),
        seeds=seed_list,
        cross_min_count=min_count,
        log=console.print,
    )
    out = out or interactions.with_name(interactions.stem + "-encode.json")
    write_json_atomic(out, {"data": spec, "top": top, **result})
    console.print(
        f"crosses improved test AUC for {len(result['improved_models'])} of {len(result['models'])} models; wrote {out}"
    )
