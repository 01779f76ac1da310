"""The one HTML page writer: reports, insights and study results all go through :func:`write_page`.

plotly.js always comes from the installed plotly package, never from a CDN: inlined into the page
(``plotly="inline"``, a self-contained file) or written once beside it (``plotly="beside"``, for a
folder of result pages that share one copy).
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from whyrec._io import write_text_atomic

PLOTLY_JS = "plotly.min.js"
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto;line-height:1.45;padding:0 1em}"
    ".muted{color:#666}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
)


class Html(str):
    """A fragment of markup built by whyrec itself (its text already escaped), placed as it is."""


def html_page(
    title: str,
    blocks: Sequence[str | Html | go.Figure],
    *,
    notes: Sequence[str] = (),
    plotly: Literal["inline", "beside"] = "inline",
) -> str:
    """The page's text: a title, plain-text notes (escaped), then blocks.

    A block is a figure, an :class:`Html` fragment, or plain text (escaped into a paragraph).
    """
    parts = [f"<h1>{html.escape(title)}</h1>", *(f"<p>{html.escape(n)}</p>" for n in notes)]
    head_script = f"<script src='{PLOTLY_JS}'></script>" if plotly == "beside" else ""
    inline_pending = plotly == "inline"
    for block in blocks:
        if isinstance(block, go.Figure):
            parts.append(block.to_html(full_html=False, include_plotlyjs=inline_pending))
            inline_pending = False
        elif isinstance(block, Html):
            parts.append(str(block))
        else:
            parts.append(f"<p>{html.escape(block)}</p>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style>{head_script}</head><body>" + "\n".join(parts) + "</body></html>"
    )


def write_page(
    path: str | os.PathLike,
    title: str,
    blocks: Sequence[str | Html | go.Figure],
    *,
    notes: Sequence[str] = (),
    plotly: Literal["inline", "beside"] = "beside",
) -> Path:
    """Write :func:`html_page` to `path` atomically (and plotly.js beside it when asked)."""
    path = Path(path)
    if plotly == "beside" and not (path.parent / PLOTLY_JS).exists():
        write_text_atomic(path.parent / PLOTLY_JS, get_plotlyjs())
    write_text_atomic(path, html_page(title, blocks, notes=notes, plotly=plotly))
    return path
