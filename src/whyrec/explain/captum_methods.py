"""Generic attribution methods through captum, over token presence.

Gradient methods (saliency, input x gradient, integrated gradients, DeepLIFT) differentiate the
*weighting* relaxation and need a torch bag model; perturbation methods (LIME, KernelSHAP, sampled
Shapley) query the *removal* function and work for any model that scores bags. "Token removed" is
the baseline everywhere (see :mod:`whyrec.explain.bags`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from captum import attr as captum_attr
from captum._utils.models.linear_model import SkLearnRidge
from torch import nn

from whyrec.explain.bags import PaddedBags, bag_logits, empty_bag_logits, is_torch_bag_model, removal_logits
from whyrec.explain.base import Explainer
from whyrec.explain.explanation import Explanations
from whyrec.models.baselines import MultVAE

_CELLS = 1 << 17  # padded (pair, position) cells per chunk of pairs


class _PresenceModule(nn.Module):
    """Target logit as a function of token presence, with explicit ReLU modules for DeepLIFT."""

    def __init__(self, module: Any, removal: bool) -> None:
        super().__init__()
        self.module = module
        self.removal = removal
        self.relus = nn.ModuleList(nn.ReLU() for _ in module.hidden)

    def forward(
        self, presence: torch.Tensor, tokens: torch.Tensor, valid: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        x = self.module.presence_pooled(tokens, presence, valid, self.removal)
        for layer, relu in zip(self.module.hidden, self.relus, strict=True):
            x = relu(layer(x))
        rows, bias = self.module.output_layer(targets)
        out = (x * rows).sum(dim=-1)
        return out if bias is None else out + bias


class _HistoryPresence(nn.Module):
    """Mult-VAE's target logit as a function of the presence of each history item (its input)."""

    def __init__(self, module: Any, n_items: int) -> None:
        super().__init__()
        self.module = module
        self.n_items = n_items

    def forward(
        self, presence: torch.Tensor, tokens: torch.Tensor, valid: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        weights = presence * valid  # padding sits on token 0 with weight 0
        history = torch.zeros(weights.shape[0], self.n_items, dtype=weights.dtype).scatter_add(1, tokens, weights)
        logits = self.module(history)[0]  # eval mode: the decoder of the mean code
        return logits.gather(1, targets.view(-1, 1)).squeeze(1)


class CaptumExplainer(Explainer):
    """Runs one captum method over chunks of padded bags and returns an Explanations batch.

    Gradient methods differentiate RecoNet through its weighted pooling, and Mult-VAE through its
    input: a history item's presence scales its entry of the history vector.
    """

    method: ClassVar[type]
    options: ClassVar[dict[str, Any]] = {}
    history_models: ClassVar[bool] = True  # also explains Mult-VAE

    def supports(self, model: Any) -> bool:
        return is_torch_bag_model(model) or (self.history_models and isinstance(model, MultVAE))

    def attribute(self, model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> Explanations:
        bags = sp.csr_matrix(bags, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.int64)
        padded = PaddedBags.from_csr(bags)
        width = padded.tokens.shape[1]
        step = max(1, _CELLS // width)
        values = torch.zeros(padded.tokens.shape, dtype=torch.float32)
        for start in range(0, len(targets), step):
            stop = min(len(targets), start + step)
            values[start:stop] = self._chunk(model, padded, targets, start, stop).float()
        values = values * padded.valid
        relevance = padded.to_csr(values, bags.shape[1])
        return self._result(
            model, relevance, targets, removal_logits(model, bags, targets), empty_bag_logits(model, targets)
        )

    def _chunk(self, model: Any, padded: PaddedBags, targets: np.ndarray, start: int, stop: int) -> torch.Tensor:
        tokens, valid = padded.tokens[start:stop], padded.valid[start:stop]
        target = torch.from_numpy(targets[start:stop])
        forward: nn.Module
        if isinstance(model, MultVAE):
            model.module_.eval()
            forward = _HistoryPresence(model.module_, model.feature_space_.n_items)
        else:
            forward = _PresenceModule(model.module_, removal=False)
        algorithm = self.method(forward)
        inputs = torch.ones_like(valid, requires_grad=True)
        kwargs = dict(self.options)
        if "baselines" in _parameters(algorithm.attribute):
            kwargs["baselines"] = torch.zeros_like(valid)
        return algorithm.attribute(inputs, additional_forward_args=(tokens, valid, target), **kwargs).detach()


def _parameters(function: Any) -> set[str]:
    import inspect

    return set(inspect.signature(function).parameters)


class Saliency(CaptumExplainer):
    """|∂f/∂m_k|: the gradient magnitude of the target logit w.r.t. each token's presence."""

    name = "saliency"
    summary = "gradient magnitude of the target logit w.r.t. each token's presence"
    method = captum_attr.Saliency


class InputXGradient(CaptumExplainer):
    """m_k ∂f/∂m_k at m = 1 (for linear RecoNet this equals LRP)."""

    name = "input_x_gradient"
    summary = "presence times gradient (equals LRP for linear RecoNet)"
    method = captum_attr.InputXGradient


class IntegratedGradients(CaptumExplainer):
    """Integrated gradients from the empty bag (m = 0) to the profile (m = 1), 50 steps."""

    name = "integrated_gradients"
    summary = "integrated gradients from the empty bag, 50 steps"
    method = captum_attr.IntegratedGradients
    options: ClassVar[dict[str, Any]] = {"n_steps": 50, "internal_batch_size": 512}


class DeepLift(CaptumExplainer):
    """DeepLIFT (rescale rule) against the empty bag."""

    name = "deeplift"
    history_models = False  # Mult-VAE's functional tanh would get plain gradients, not DeepLIFT's rule
    summary = "DeepLIFT (rescale rule) against the empty bag"
    method = captum_attr.DeepLift


class _PerPairPerturbation(Explainer):
    """Perturbation methods run one pair at a time over exactly that pair's tokens."""

    batched = False

    def __init__(self, n_samples: int = 1000, seed: int = 0) -> None:
        self.n_samples = n_samples
        self.seed = seed

    def _algorithm(self, forward: Any) -> Any:
        raise NotImplementedError

    def _per_eval(self, n_tokens: int) -> int:
        """Perturbed bags scored in one forward call."""
        return min(self.n_samples, 1000)

    def _attribute_one(self, algorithm: Any, inputs: torch.Tensor, forward_args: tuple) -> torch.Tensor:
        return algorithm.attribute(
            inputs,
            baselines=torch.zeros_like(inputs),
            additional_forward_args=forward_args,
            n_samples=self.n_samples,
            perturbations_per_eval=self._per_eval(inputs.shape[1]),
        )

    @torch.no_grad()
    def attribute(self, model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> Explanations:
        bags = sp.csr_matrix(bags, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.int64)
        torch.manual_seed(self.seed)
        forward = _removal_forward(model)
        algorithm = self._algorithm(forward)
        data = np.zeros(bags.nnz, dtype=np.float32)
        for p, target in enumerate(targets):
            a, b = bags.indptr[p], bags.indptr[p + 1]
            if a == b:
                continue
            tokens = torch.from_numpy(bags.indices[a:b].astype(np.int64)).unsqueeze(0)
            inputs = torch.ones(1, b - a)
            args = (tokens, torch.ones(1, b - a), torch.tensor([target]))
            if b - a == 1:  # one token: every removal method's answer is f(bag) - f(empty), and samplers fail
                data[a] = float((forward(inputs, *args) - forward(torch.zeros_like(inputs), *args)).reshape(-1)[0])
                continue
            data[a:b] = self._attribute_one(algorithm, inputs, args)[0].numpy()
        relevance = sp.csr_matrix((data, bags.indices, bags.indptr), shape=bags.shape)
        return self._result(
            model, relevance, targets, removal_logits(model, bags, targets), empty_bag_logits(model, targets)
        )


def _removal_forward(model: Any) -> Any:
    """f(presence, tokens, valid, targets) under removal semantics, for captum."""
    if is_torch_bag_model(model):
        module = model.module_

        def forward(presence, tokens, valid, targets):
            n = presence.shape[0]
            return bag_logits(
                module, tokens.expand(n, -1), presence, valid.expand(n, -1), targets.expand(n), removal=True
            )

        return forward

    n_tokens = model.feature_space_.n_tokens

    def generic(presence, tokens, valid, targets):
        keep = (presence * valid).numpy() > 0.5
        token_ids = np.broadcast_to(tokens.numpy(), keep.shape)[keep]
        indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
        bags = sp.csr_matrix((np.ones(len(token_ids), np.float32), token_ids, indptr), shape=(keep.shape[0], n_tokens))
        wanted = np.broadcast_to(targets.numpy().ravel(), (keep.shape[0],))  # captum may pre-expand args
        return torch.from_numpy(removal_logits(model, bags, wanted))

    return generic


class Lime(_PerPairPerturbation):
    """LIME (captum) over token presence: a ridge surrogate fit to n_samples perturbations."""

    name = "lime"
    summary = "LIME: a ridge surrogate fitted to 1,000 perturbed bags per pair"

    def _algorithm(self, forward: Any) -> Any:
        # the original LIME's surrogate (ridge, alpha 1); captum's default lasso zeroes small effects
        return captum_attr.Lime(forward, interpretable_model=SkLearnRidge(alpha=1.0))


class KernelShap(_PerPairPerturbation):
    """KernelSHAP (captum) over token presence."""

    name = "kernel_shap"
    summary = "KernelSHAP over token presence, 1,000 perturbed bags per pair"

    def _algorithm(self, forward: Any) -> Any:
        return captum_attr.KernelShap(forward)


class ShapleySampling(_PerPairPerturbation):
    """Shapley values estimated from n_samples random token orders (captum)."""

    name = "sampled_shapley"
    summary = "Shapley values estimated from 64 random token orders per pair"

    def __init__(self, n_samples: int = 64, seed: int = 0) -> None:
        super().__init__(n_samples=n_samples, seed=seed)

    def _algorithm(self, forward: Any) -> Any:
        return captum_attr.ShapleyValueSampling(forward)

    def _per_eval(self, n_tokens: int) -> int:
        return min(n_tokens, 256)  # one permutation walks all tokens; captum batches its steps
