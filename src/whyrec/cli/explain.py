"""``whyrec explain``: which tokens drove an item's score for a user, and what would change it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from whyrec.cli._common import AsJson, MethodOption, ModelDir, comma_list, console, dumps, method_name

GROUPS_SHOWN = 4  # groups a layer shows on the terminal (--json has them all)


def explain(
    model: ModelDir,
    user: Annotated[str, typer.Option(help="External user ID.")],
    item: Annotated[str | None, typer.Option(help="External item ID to explain.")] = None,
    top: Annotated[int, typer.Option(help="Number of reasons to show.")] = 10,
    method: MethodOption = None,
    counterfactual: Annotated[
        bool,
        typer.Option("--counterfactual", help="Also find the smallest set whose removal drops ITEM from the top N."),
    ] = False,
    why_not: Annotated[
        str | None, typer.Option("--why-not", help="Instead explain why this item is not in the top N.")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="The list length N for --counterfactual and --why-not.")] = 10,
    kinds: Annotated[
        str, typer.Option(help="Token kinds a counterfactual may remove / a why-not may add: item,user_attribute.")
    ] = "",
    as_json: AsJson = False,
) -> None:
    """Which profile tokens drove the score of ITEM for USER (signed relevance), and what would change it."""
    from whyrec.errors import ParameterError
    from whyrec.models import Recommender
    from whyrec.service import user_bag

    if top <= 0:
        raise ParameterError(f"--top must be positive, got {top}")
    if (item is None) == (why_not is None):
        raise ParameterError("give exactly one of --item (explain it) and --why-not (explain its absence)")
    if why_not is not None and counterfactual:
        raise ParameterError("--counterfactual speaks about a recommended --item, not --why-not")
    chosen_kinds = tuple(comma_list(kinds))
    loaded = Recommender.load(model)
    bag = user_bag(loaded, user)
    if why_not is not None:
        _why_not(loaded, bag, user, why_not, n, top, method_name(method), chosen_kinds or None, as_json)
        return
    assert item is not None
    _explain(loaded, bag, user, item, top, method_name(method), n if counterfactual else None, chosen_kinds, as_json)


def _explain(
    model: Any,
    bag: Any,
    user: str,
    item: str,
    top: int,
    method: str | None,
    counterfactual_n: int | None,
    kinds: tuple[str, ...],
    as_json: bool,
) -> None:
    import numpy as np

    from whyrec.explain import counterfactual as search
    from whyrec.service import explanation, explanation_groups

    e = explanation(model, bag, item, method=method)
    groups = explanation_groups(model, e, user)
    found = None
    if counterfactual_n is not None:
        relevance = e.relevance_by_token(np.sort(bag.indices))
        target = int(model.feature_space_.item_index([item])[0])
        found = search(model, bag, target, n=counterfactual_n, relevance=relevance, kinds=kinds or ("item",))
    if as_json:
        extra = {"counterfactual": found.to_dict()} if found is not None else {}
        typer.echo(dumps({"user": user, **e.to_dict(top=top), "groups": groups, **extra}))
        return
    # names and sentences are the data's text: escaped, so that "[...]" in them is not read as markup
    console.print(
        f"[bold]{escape(e.item_name)}[/bold] for user {escape(user)}: score {e.score:.3f} "
        f"(bias {e.baseline:+.3f}, method {e.method})"
    )
    console.print(e.sentence(), markup=False)
    for reason in e.top(top):
        colour = "green" if reason.relevance > 0 else "red"
        console.print(f"  [{colour}]{reason.relevance:+.4f}[/{colour}]  {escape(reason.label)}")
    for layer, rows in groups.items():
        shown = ", ".join(f"{g['label']} {g['relevance']:+.3f}" for g in rows[:GROUPS_SHOWN])
        more = f", and {len(rows) - GROUPS_SHOWN} more" if len(rows) > GROUPS_SHOWN else ""
        console.print(f"By {layer}: {shown}{more}", highlight=False, markup=False)
    if found is not None:
        console.print(_counterfactual_line(found), markup=False)


def _counterfactual_line(found: Any) -> str:
    check = " (verified by re-scoring)" if found.found and found.verified else ""
    return f"What would change it: {found.sentence.removesuffix('.')}{check}."


def _why_not(
    model: Any,
    bag: Any,
    user: str,
    item: str,
    n: int,
    top: int,
    method: str | None,
    kinds: tuple[str, ...] | None,
    as_json: bool,
) -> None:
    from whyrec.explain import why_not
    from whyrec.explain.words import join

    answer = why_not(model, bag, item, n=n, top=top, method=method, **({"kinds": kinds} if kinds else {}))
    if as_json:
        typer.echo(dumps({"user": user, **answer.to_dict()}))
        return
    title = f"[bold]{escape(answer.item_name)}[/bold] for user {escape(user)}"
    console.print(f"{title}: rank {answer.rank}, {escape(answer.message)}.")
    if answer.recommended:
        return
    console.print(f"Its score {answer.score:.3f} is {answer.nth_score - answer.score:.3f} below the item at rank {n}.")
    for reason in answer.holding_back:
        console.print(f"  [red]{reason.relevance:+.4f}[/red]  {escape(reason.label)}")
    if answer.addition is not None and answer.addition["verified"]:
        added, rank = answer.addition["name"], answer.addition["new_rank"]
        console.print(f"Adding {added}: rank {rank} (verified by re-scoring).", markup=False)
    elif answer.together is not None and answer.together["verified"]:
        added, rank = join(answer.together["names"]), answer.together["new_rank"]
        console.print(f"Adding {added} together: rank {rank} (verified by re-scoring).", markup=False)
