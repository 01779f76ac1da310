"""Plotly figures and self-contained HTML pages built from Explanations and evaluation results."""

from whyrec.viz.figures import agreement_heatmap, curve_figure, delta_histogram, write_page

__all__ = ["agreement_heatmap", "curve_figure", "delta_histogram", "write_page"]
