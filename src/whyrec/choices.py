"""The names a user picks from, known without importing the code behind them.

The command line lists these choices in ``--help`` and checks them before any heavy import (torch,
pandas), so that help and argument errors answer at once. Each registry holds itself to them: an
explainer that whyrec ships registers only under a name in :data:`METHODS`, and the trainer takes
only the precisions in :data:`PRECISIONS`.
"""

from __future__ import annotations

METHODS = (
    "blend",
    "counterfactual",
    "decomposition",
    "deeplift",
    "input_x_gradient",
    "integrated_gradients",
    "kernel_shap",
    "lime",
    "lrp",
    "occlusion",
    "read_out",
    "saliency",
    "sampled_shapley",
    "shapley",
)
"""Every explanation method whyrec ships (:data:`whyrec.explain.EXPLAINERS` registers their classes)."""

PRECISIONS = ("float32", "bfloat16")
"""The precisions of the training passes (:class:`whyrec.models.training.TrainingOptions`)."""

CTR_ARCHITECTURES = ("lr", "fm", "wide_deep", "deepfm", "dcn", "autoint")
"""The click-through-rate architectures (:data:`whyrec.models.ctr.ARCHITECTURES`)."""
