"""The Sankey view of one explanation (RecoNet's Figure 5): inputs flow into the item they drove."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from whyrec.explain.explanation import Explanation, Reason
from whyrec.explain.layered import Group

SUPPORT, AGAINST = "rgba(44,160,44,0.45)", "rgba(214,39,40,0.45)"


def sankey_figure(explanation: Explanation, *, top: int = 8, groups: Sequence[Group] | None = None) -> go.Figure:
    """Top positive reasons flow into the item; negative evidence flows into a separate red node.

    With `groups` (one layer of :func:`whyrec.explain.layered.layers`) the groups flow instead: the
    same total, collapsed to the history by genre, by kind or by time.
    """
    if groups is None:
        positive: Sequence[Group | Reason] = explanation.top(top, positive=True)
        negative: Sequence[Group | Reason] = explanation.bottom(min(top, 5))
    else:
        positive = [g for g in groups if g.relevance > 0][:top]
        negative = sorted((g for g in groups if g.relevance < 0), key=lambda g: g.relevance)[: min(top, 5)]
    labels = [r.label for r in positive] + [r.label for r in negative] + [explanation.item_name, "against"]
    item = len(positive) + len(negative)
    source = list(range(item))
    target = [item] * len(positive) + [item + 1] * len(negative)
    value = [r.relevance for r in positive] + [-r.relevance for r in negative]
    colours = [SUPPORT] * len(positive) + [AGAINST] * len(negative)
    node_colours = ["#2ca02c"] * len(positive) + ["#d62728"] * len(negative) + ["#1f3b57", "#b02a2a"]
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": labels, "pad": 12, "thickness": 14, "color": node_colours},
            link={"source": source, "target": target, "value": value, "color": colours},
        )
    )
    figure.update_layout(
        title=f"{explanation.method.upper()}: why {explanation.item_name}", height=380, margin={"l": 10, "r": 10}
    )
    return figure
