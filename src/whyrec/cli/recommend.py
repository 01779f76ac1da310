"""``whyrec recommend``: the top-k items of a known user, scored as the service and the explanations score them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from whyrec.cli._common import AsJson, ModelDir, console, dumps


def recommend(
    model: ModelDir,
    user: Annotated[str, typer.Option(help="External user ID.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    as_json: AsJson = False,
) -> None:
    """Top-k items for a known user, best first."""
    from whyrec.models import Recommender
    from whyrec.service import recommendations, user_bag

    loaded = Recommender.load(model)
    items = recommendations(loaded, user_bag(loaded, user), k=k)
    if as_json:
        rows = [{"rank": i["rank"], "item_id": i["item_id"], "item": i["name"], "score": i["score"]} for i in items]
        typer.echo(dumps({"user": user, "recommendations": rows}))
        return
    for i in items:
        item = f"{escape(i['name'])} [dim](id {escape(str(i['item_id']))}, score {i['score']:.3f})[/dim]"
        console.print(f"{i['rank']:>3}. {item}")
