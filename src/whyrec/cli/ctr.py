"""``whyrec ctr``: click-through-rate models (logistic regression, FM, Wide&Deep, DeepFM, DCN, AutoInt)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from whyrec.choices import CTR_ARCHITECTURES
from whyrec.cli._common import ModelDir, console

if TYPE_CHECKING:
    from whyrec.data.ctr import CTRSplit
    from whyrec.models.ctr import CTRModel

app = typer.Typer(help="Click-through-rate models: logistic regression, FM, Wide&Deep, DeepFM, DCN, AutoInt.")
CtrData = Annotated[
    str, typer.Option(help="synthetic-ctr[:n_rows=N] | criteo:PATH | avazu:PATH | frappe:PATH | movielens-ctr:PATH")
]
Architecture = StrEnum("Architecture", {a: a for a in CTR_ARCHITECTURES})  # type: ignore[misc]


@app.command("train")
def train(
    data: CtrData = "synthetic-ctr",
    architecture: Annotated[Architecture, typer.Option(help="The model.")] = Architecture("deepfm"),
    out: Annotated[Path, typer.Option(help="Model directory to write.")] = Path("runs/ctr"),
    seed: Annotated[int, typer.Option(help="Seed for the split, negatives and training.")] = 0,
    min_count: Annotated[int, typer.Option(help="Values seen fewer times in training fold into 'other'.")] = 2,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (early stopping on validation log loss).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default per architecture).")] = None,
    dim: Annotated[int, typer.Option(help="Embedding size.")] = 16,
) -> None:
    """Train a CTR model on an 80/10/10 split; report test AUC and log loss; save it."""
    from whyrec.data.ctr_loaders import ctr_split

    split, _ = ctr_split(data, seed=seed, min_count=min_count)
    overrides: dict[str, Any] = {"seed": seed, "dim": dim, **({"lr": lr} if lr is not None else {})}
    if epochs is not None:
        overrides["epochs"] = epochs
    name = str(architecture.value)
    model = fit(name, overrides, split, data)
    metrics = model.evaluate(split.test)
    model.save(out, info={"data": data, "split_seed": seed, "min_count": min_count, "test": metrics})
    console.print(
        f"{name} on {data}: test AUC {metrics['auc']:.4f}, log loss {metrics['log_loss']:.4f} "
        f"(best epoch {model.best_epoch_}); saved to {out}"
    )


def fit(architecture: str, overrides: dict[str, Any], split: CTRSplit, data: str) -> CTRModel:
    """A CTR model of `architecture`, its defaults for `data` overridden, fitted on the split."""
    from whyrec.interactions.encoding import model_params
    from whyrec.models.ctr import CTRModel
    from whyrec.models.training import TrainingOptions

    model = CTRModel(**model_params(architecture, overrides, data=data))
    return model.fit(split.train, split.validation, options=TrainingOptions(progress=True))


def model_and_split(
    model_dir: Path, data: str | None
) -> tuple[CTRModel, CTRSplit, list[tuple[str, ...]] | None, str, dict[str, Any]]:
    """A saved CTR model, the split of the data it names (or `data`), its planted interactions, spec and info."""
    from whyrec.data.ctr_loaders import ctr_split
    from whyrec.errors import DataError
    from whyrec.models.ctr import CTRModel

    model = CTRModel.load(model_dir)
    info = model.manifest_.get("info", {})
    spec = data or info.get("data")
    if not spec:
        raise DataError(f"{model_dir} does not say which data it was trained on; pass --data")
    split, planted = ctr_split(spec, seed=info.get("split_seed", 0), space=model.feature_space_)
    return model, split, planted, spec, info


@app.command("evaluate")
def evaluate(
    model: ModelDir,
    data: Annotated[str | None, typer.Option(help="CTR data spec (default: the model's own).")] = None,
) -> None:
    """Test AUC and log loss of a saved CTR model (unseen values go to their field's 'other')."""
    loaded, split, _, spec, _ = model_and_split(model, data)
    metrics = loaded.evaluate(split.test)
    console.print(
        f"{spec}: test AUC {metrics['auc']:.4f}, log loss {metrics['log_loss']:.4f} on {metrics['rows']} rows"
    )
