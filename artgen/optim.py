"""Optimizers for the shared loop.

``make_optimizer("adam" | "sgd", params, lr)`` returns standard ``torch.optim``
optimizers, so their ``state_dict``, hooks, schedulers and ``GradScaler`` work as
everywhere else. Adam is ``torch.optim.Adam`` with its fused kernel
(``fused=True``: one call updates every parameter) wherever the parameters'
device and dtype have one, found by trying it once per device and dtype
(:func:`fused_adam_available`); elsewhere PyTorch's own default. For small models at
small batches (the founding document's recipe: ~100k weights, batch 32) the
per-parameter bookkeeping of the unfused paths costs more than the update.

On the CPU, Adam's first moment decays by ``beta1`` per step wherever the
gradient is zero (MNIST's rarely inked border pixels), reaching denormal floats,
which the CPU computes slowly. ``torch.set_flush_denormal`` (used by the loop)
reaches only the calling thread, not PyTorch's worker threads, so
:func:`keep_moments_normal` zeroes moment values below :data:`MOMENT_FLOOR` every
:data:`MOMENT_FLOOR_EVERY` steps, before they can become denormal. That changes
the update by less than ``lr * MOMENT_FLOOR / eps`` (1e-26 at Keras' defaults).
"""

from __future__ import annotations

import functools

import torch
from torch.utils.hooks import RemovableHandle

from .errors import ArgumentError

FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MOMENT_FLOOR = 1e-30  # float32 turns denormal below 1.18e-38: beta1 = 0.9 needs > 170 steps from here
MOMENT_FLOOR_EVERY = 100  # steps between two passes, well inside those 170
MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


@functools.lru_cache(maxsize=16)
def fused_adam_available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether ``torch.optim.Adam(fused=True)`` runs for parameters of this device and dtype.

    A feature check, not a version check: one step on a one-element tensor. Fused
    Adam exists for CUDA since torch 2.0 and for the CPU since 2.4; other devices
    (MPS, XPU, ...) depend on the release. The answer is cached per (device, dtype).
    """
    try:
        p = torch.zeros(1, device=device, dtype=dtype, requires_grad=True)
        p.grad = torch.zeros_like(p)
        torch.optim.Adam([p], lr=1e-3, fused=True).step()
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def _fused_ok(params) -> bool:
    """One device and one float dtype with a fused Adam kernel."""
    devices = {p.device for p in params}
    dtypes = {p.dtype for p in params}
    if len(devices) != 1 or len(dtypes) != 1 or not dtypes <= set(FUSED_DTYPES):
        return False
    return fused_adam_available(devices.pop(), dtypes.pop())


def keep_moments_normal(
    optimizer: torch.optim.Optimizer, every: int = MOMENT_FLOOR_EVERY, floor: float = MOMENT_FLOOR
) -> RemovableHandle:
    """Zero Adam's moment estimates below ``floor`` in magnitude after every ``every``-th step.

    Steps are counted by the optimizer's own ``state["step"]``, which a checkpoint
    restores, so a resumed run zeroes at the same steps as an uninterrupted one.

    A step post-hook (``Optimizer.register_step_post_hook``); returns its handle
    (``.remove()`` undoes it). Works on float32 CPU state of ``torch.optim.Adam``
    and ``AdamW`` (keys ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``) and
    ignores other state. See the module docstring for why.
    """
    if every < 1:
        raise ArgumentError("every", f"must be at least 1, got {every}")

    def hook(opt, args, kwargs) -> None:
        step = next((state["step"] for state in opt.state.values() if "step" in state), None)
        if step is None or int(step) % every:  # the optimizer's own count: a resumed run keeps the schedule
            return
        with torch.no_grad():
            for state in opt.state.values():
                for key in MOMENTS:
                    t = state.get(key)
                    if isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.device.type == "cpu":
                        t.masked_fill_(t.abs() < floor, 0.0)

    return optimizer.register_step_post_hook(hook)


def make_adam(params, lr: float = 1e-3, **kwargs) -> torch.optim.Adam:
    """``torch.optim.Adam(params, lr, **kwargs)``, fused where the parameters allow.

    ``fused=True`` is added when neither ``fused`` nor ``foreach`` is given, every
    parameter shares one device and one float dtype, and that pair has a fused kernel.
    Same update and ``state_dict`` as the unfused paths (Kingma & Ba 2015, with
    PyTorch's bias correction). With float32 parameters on the CPU the moments are
    kept out of the denormal range (:func:`keep_moments_normal`). Raises what
    ``torch.optim.Adam`` raises for bad values.
    """
    params = list(params)
    flat = [p for g in params for p in g["params"]] if params and isinstance(params[0], dict) else params
    if (
        "fused" not in kwargs
        and "foreach" not in kwargs
        and not kwargs.get("differentiable", False)
        and flat
        and _fused_ok(flat)
    ):
        kwargs["fused"] = True
    optimizer = torch.optim.Adam(params, lr=lr, **kwargs)
    if any(p.device.type == "cpu" and p.dtype == torch.float32 for p in flat):
        keep_moments_normal(optimizer)
    return optimizer


def make_optimizer(name: str, params, lr: float | None = None, **kwargs) -> torch.optim.Optimizer:
    """``adam`` (default lr 1e-3, as in Keras) or ``sgd`` (plain ``w <- w - lr * dL/dw``, momentum 0 unless given).

    Extra keyword arguments go to the ``torch.optim`` class (``eps``, ``betas``,
    ``weight_decay``, ...). Raises :class:`ArgumentError` for another name.
    """
    name = str(name).lower()
    params = list(params)
    if name == "adam":
        return make_adam(params, lr=1e-3 if lr is None else lr, **kwargs)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-2 if lr is None else lr, momentum=kwargs.pop("momentum", 0.0), **kwargs)
    raise ArgumentError("optimizer", f"{name!r}: expected adam or sgd")
