"""Every loss artgen trains with, as pure functions over tensors.

The classifier, the GAN, optimisation-based style transfer and the fast style
networks all import their objectives from here; no loss is written inline in a
training step.

Conventions: images are ``(B, C, H, W)``; feature maps likewise; every function
returns a 0-d tensor unless its ``reduction`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .device import constant

_EPS = 1e-12


# --- the founding document's losses -------------------------------------------------


def mse(prediction: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error, ``mean((y - y_hat)^2)``."""
    return F.mse_loss(prediction, target, reduction=reduction)


def mse_on_probabilities(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between softmax probabilities and one-hot (or soft) targets.

    ``mean((softmax(logits) - onehot(target))^2)`` over all ``B * K`` entries:
    the objective Keras trains with for ``loss="mse"`` on a softmax output layer,
    which is what the founding document's classifier compiles with.

    ``logits`` is ``(B, K)``, any float dtype (the softmax runs in float32).
    ``target`` is class indices ``(B,)`` (any integer dtype, values in ``[0, K)``)
    or a distribution ``(B, K)`` (rows in ``[0, 1]``, used as given). Returns a
    0-d float32 tensor in ``[0, 1]``. An index outside ``[0, K)`` raises
    RuntimeError (from :func:`torch.nn.functional.one_hot`); a target of another
    shape raises RuntimeError from the broadcast.
    """
    probs = torch.softmax(logits.float(), dim=-1)  # (B, K)
    if target.dim() == 1:
        target = F.one_hot(target.long(), probs.shape[-1]).float()  # (B,) -> (B, K)
    return mse(probs, target)


def cross_entropy(
    prediction: torch.Tensor,
    target: torch.Tensor,
    *,
    from_logits: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy ``H(p, q) = -sum_k p_k log q_k`` averaged over the batch.

    ``prediction`` is ``(B, K)`` logits (``from_logits=True``) or probabilities q.
    ``target`` is either class indices ``(B,)`` or a distribution p of shape ``(B, K)``.
    """
    is_index = (
        target.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8) and target.dim() == prediction.dim() - 1
    )
    if from_logits and is_index:
        # the same value as below, through PyTorch's fused log-softmax + NLL kernel
        return F.cross_entropy(prediction.float(), target.long(), reduction=reduction)
    if from_logits:
        log_q = F.log_softmax(prediction.float(), dim=-1)
    else:
        log_q = torch.log(prediction.float().clamp_min(_EPS))
    if is_index:
        per_sample = -log_q.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
    else:
        per_sample = -(target.float() * log_q).sum(dim=-1)
    return _reduce(per_sample, reduction)


def cross_entropy_with_grad(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of ``(B, K)`` logits against class indices, and its gradient.

    Returns ``(loss, dlogits)`` with ``dlogits = (softmax(logits) - onehot(target)) / B``,
    the exact derivative of :func:`cross_entropy` (``reduction="mean"``), computed
    without autograd. Models with a hand-derived backward (the dense classifier's
    fast path) start from it, so the objective still lives here.
    """
    batch = logits.shape[0]
    target = target.long()
    log_q = F.log_softmax(logits.float(), dim=-1)
    loss = F.nll_loss(log_q, target)
    grad = log_q.exp_()  # softmax, in place: log_q is not needed after the loss
    grad.scatter_add_(1, target.unsqueeze(1), constant(-1.0, grad).expand(batch, 1))  # softmax - onehot
    return loss, grad.div_(batch)


# --- GAN objectives -------------------------------------------------------------------

GAN_LOSSES = ("nonsaturating", "hinge")


def gan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """Discriminator loss on raw scores for real and generated images.

    ``nonsaturating`` (logistic): ``softplus(-D(x)) + softplus(D(G(z)))``, i.e. binary
    cross-entropy with targets 1 for real and 0 for fake.
    ``hinge``: ``relu(1 - D(x)) + relu(1 + D(G(z)))``.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if kind == "nonsaturating":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")


def gan_g_loss(fake_logits: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """Generator loss: ``softplus(-D(G(z)))`` (non-saturating) or ``-D(G(z))`` (hinge)."""
    fake_logits = fake_logits.float()
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "hinge":
        return -fake_logits.mean()
    raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty (Mescheder et al. 2018): ``mean_i ||d D(x_i) / d x_i||^2``.

    ``real_images`` must have ``requires_grad=True`` and ``real_logits`` must be
    computed from them. The caller multiplies by ``gamma / 2``. The graph is kept
    (``create_graph=True``) so the penalty can be back-propagated.
    """
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real_images, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


# --- perceptual (style transfer) losses -------------------------------------------


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of feature maps, normalised by the number of elements.

    ``(B, C, H, W) -> (B, C, C)`` with ``G[b, i, j] = sum_hw F[b,i,hw] F[b,j,hw] / (C*H*W)``.
    Computed in float32 even under autocast, since the sums overflow fp16.
    """
    b, c, h, w = features.shape
    if b == 1 and c > 1 and not features.is_contiguous() and features.is_contiguous(memory_format=torch.channels_last):
        pixels = features.float().permute(0, 2, 3, 1).reshape(h * w, c)  # (HW, C): a view, no copy
        return torch.mm(pixels.t(), pixels).unsqueeze(0) / (c * h * w)
    if b == 1:  # one image (style transfer): mm's backward is ~1.7x faster than bmm's on the CPU
        flat = features.float().reshape(c, h * w)  # (C, HW)
        return torch.mm(flat, flat.t()).unsqueeze(0) / (c * h * w)
    flat = features.float().reshape(b, c, h * w)  # (B, C, HW)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Content loss: mean squared difference of two feature maps."""
    return F.mse_loss(features.float(), target.float())


def normalised_content_loss(features: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]) -> torch.Tensor:
    """Content loss of ``L`` layers, each relative to its target's energy, averaged over layers.

    ``(1 / L) * sum_l mean((F_l - T_l)^2) / max(mean(T_l^2), 1e-12)``, where
    ``F_l`` and ``T_l`` are ``(B, C_l, H_l, W_l)`` feature maps of the output and
    of the photo at layer ``l`` (any float dtype; computed in float32). This is
    the content term of the perceptual loss of Johnson, Alahi & Fei-Fei (2016),
    "Perceptual Losses for Real-Time Style Transfer", with each layer's squared
    error divided by its target's mean square (computed per batch, so no
    per-photo statistic is stored), which makes ``content_weight`` mean the same
    for every backbone and image size. The fast style networks train with it;
    the optimisation path (:mod:`artgen.style_transfer`) uses the same
    normalisation with scales fixed once by :func:`energy_weights`.

    Returns a 0-d float32 tensor, ``>= 0``; 0 when the features equal the targets.
    Raises ValueError when the lists are empty or of different lengths.
    """
    if len(features) != len(targets) or not features:
        raise ValueError(
            f"normalised_content_loss got {len(features)} feature maps and {len(targets)} targets; expected the same non-zero number"
        )
    total = features[0].new_zeros((), dtype=torch.float32)
    for feature, target in zip(features, targets):
        target = target.float()
        total = total + content_loss(feature, target) / target.pow(2).mean().clamp_min(_EPS)
    return total / len(features)


def term_weights(
    targets: Sequence[torch.Tensor], given: Sequence[float] | None = None, *, normalize: bool = True
) -> list[float]:
    """One weight per loss term: ``given`` if passed, else :func:`energy_weights` of the targets
    (``normalize``), else 1 each. Used for the style layers and the content layers alike.

    Raises:
        ArgumentError: ``given`` does not have one value per target (named ``style_layer_weights``).
    """
    if given is not None:
        if len(given) != len(targets):
            from .errors import ArgumentError

            raise ArgumentError("style_layer_weights", f"has {len(given)} values for {len(targets)} style layers")
        return [float(w) for w in given]
    return energy_weights(targets) if normalize else [1.0] * len(targets)


def energy_weights(targets: Sequence[torch.Tensor]) -> list[float]:
    """``1 / (L * mean(t^2))`` for each of ``L`` targets: weights that make each term's error
    relative to its target's size and share the total among the terms (floored at 1e-12)."""
    return [1.0 / (len(targets) * max(float(t.float().pow(2).mean()), 1e-12)) for t in targets]


def style_loss(
    features: Sequence[torch.Tensor],
    target_grams: Sequence[torch.Tensor],
    layer_weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Gram style loss: ``sum_l w_l * mean((G(F_l) - G_target_l)^2)``.

    ``target_grams[l]`` is ``(1, C, C)`` (broadcast over the batch) or ``(B, C, C)``.
    """
    if len(features) != len(target_grams):
        raise ValueError(f"style_loss got {len(features)} feature maps but {len(target_grams)} target Gram matrices")
    return style_loss_from_grams([gram_matrix(feat) for feat in features], target_grams, layer_weights)


def style_loss_from_grams(
    grams: Sequence[torch.Tensor],
    target_grams: Sequence[torch.Tensor],
    layer_weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """:func:`style_loss` from Gram matrices already computed: ``sum_l w_l * mean((G_l - G_target_l)^2)``.

    ``grams[l]`` is ``(B, C, C)``; ``target_grams[l]`` is ``(1, C, C)`` or ``(B, C, C)``.
    Used where a picture's Gram matrix is accumulated over tiles (:mod:`artgen.tiling`).
    Returns a 0-d float32 tensor. Raises ValueError when the list lengths differ.
    """
    if len(grams) != len(target_grams):
        raise ValueError(f"style_loss got {len(grams)} Gram matrices but {len(target_grams)} target Gram matrices")
    weights = [1.0] * len(grams) if layer_weights is None else list(layer_weights)
    total = grams[0].new_zeros((), dtype=torch.float32)
    for gram, target, weight in zip(grams, target_grams, weights):
        gram = gram.float()
        total = total + weight * (gram - target.float().expand_as(gram)).pow(2).mean()
    return total


def tv_loss(image: torch.Tensor, wrap: bool = False) -> torch.Tensor:
    """Total variation: ``mean((x[:, :, i+1, j] - x[:, :, i, j])^2) + mean((x[:, :, i, j+1] - x[:, :, i, j])^2)``.

    ``image`` is ``(B, C, H, W)``, any float dtype; the result is float32. With
    ``wrap=True`` the last row and column are also compared with the first ones
    (indices taken modulo H and W), so the term also smooths the seam of an image
    meant to tile the plane (seamless textures).
    """
    image = image.float()
    if wrap:
        dy = torch.roll(image, -1, dims=2) - image  # (B, C, H, W), row H-1 against row 0
        dx = torch.roll(image, -1, dims=3) - image
        return dy.pow(2).mean() + dx.pow(2).mean()
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def transform_consistency_loss(
    output_of_moved: torch.Tensor, moved_output: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Stability of an image-to-image network under small motions and noise.

    ``mean_mask((f(T(x) + n) - T(f(x)))^2)``: stylising a slightly moved (and noisy) frame
    should give the equally moved stylised frame. This is the flow-free temporal term of
    Wang et al. 2020, "Consistent Video Style Transfer via Compound Regularization" (AAAI);
    the noise part is the stability loss of Gupta et al. 2017 (ICCV).

    Args:
        output_of_moved: (B, C, H, W), the network applied to the moved (noisy) input.
        moved_output: (B, C, H, W), the network's output on the original, moved the same way.
        mask: optional (B, 1, H, W) weights in [0, 1] (1 where the motion has a source pixel).
    Returns:
        0-d float32: the mean squared difference over the masked pixels (image units squared).
    Raises:
        ValueError: if the two images differ in shape.
    """
    if output_of_moved.shape != moved_output.shape:
        raise ValueError(
            f"transform_consistency_loss got shapes {tuple(output_of_moved.shape)} and {tuple(moved_output.shape)}"
        )
    diff = (output_of_moved.float() - moved_output.float()).pow(2)
    if mask is None:
        return diff.mean()
    mask = mask.float().expand_as(diff)
    return (diff * mask).sum() / mask.sum().clamp_min(1.0)


# --- metrics and lookup -----------------------------------------------------------


def correct(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row, whether its arg-max matches the class index (or the arg-max of a distribution)."""
    if target.dim() == logits.dim():
        target = target.argmax(dim=-1)
    return logits.argmax(dim=-1) == target


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max matches the class index (or the arg-max of a distribution)."""
    return correct(logits, target).float().mean()


LOSSES = {
    "cross_entropy": cross_entropy,
    "categorical_crossentropy": cross_entropy,
    "sparse_categorical_crossentropy": cross_entropy,
    "mse": mse,
    "mean_squared_error": mse,
}


def get_loss(name_or_fn):
    """Look up a supervised loss by name (Keras spellings accepted) or pass a callable through."""
    if callable(name_or_fn):
        return name_or_fn
    try:
        return LOSSES[str(name_or_fn).lower()]
    except KeyError:
        raise ValueError(f"unknown loss {name_or_fn!r}; expected one of {', '.join(sorted(LOSSES))}") from None


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"unknown reduction {reduction!r}")
