"""Plotly figures and HTML pages built from Explanations, evaluation results and insights."""

from whyrec.viz.figures import agreement_heatmap, curve_figure, delta_histogram
from whyrec.viz.page import Html, html_page, write_page

__all__ = ["Html", "agreement_heatmap", "curve_figure", "delta_histogram", "html_page", "write_page"]
