"""Optimizers for the shared loop.

``make_optimizer("adam" | "sgd", params, lr)`` returns standard torch optimizers.
Adam is :class:`LeanAdam`: ``torch.optim.Adam`` itself (same update, same
``state_dict``, the fused kernel where the device has one) whose ``step`` reuses the
parameter and state lists between steps instead of rebuilding them. For small
models at small batches (the founding document's recipe: ~100k weights, batch 32)
that bookkeeping costs more than the update.
"""

from __future__ import annotations

import torch
from torch.optim import optimizer as _torch_optimizer
from torch.optim.adam import adam as _adam_update

from .device import constant
from .errors import ArgumentError, UsageError


def _fused_ok(params) -> bool:
    devices = {p.device.type for p in params}
    dtypes = {p.dtype for p in params}
    return len(devices) == 1 and devices <= {"cpu", "cuda", "mps"} and dtypes <= {torch.float32, torch.float16, torch.bfloat16}


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam`` with cached per-group lists; see the module docstring."""

    def __init__(self, params, lr: float = 1e-3, **kwargs):
        params = list(params)
        flat = [p for g in params for p in g["params"]] if params and isinstance(params[0], dict) else params
        if "fused" not in kwargs and "foreach" not in kwargs and _fused_ok(flat):
            kwargs["fused"] = True
        super().__init__(params, lr=lr, **kwargs)
        self._lists: list[tuple] | None = None

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._lists = None

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        self._lists = None

    def _group_lists(self):
        lists = []
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps = [], [], [], [], [], []
            has_complex = self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps)
            lists.append((group, params, exp_avgs, exp_avg_sqs, max_sqs, steps, has_complex, _fused_cpu_ok(group, params, has_complex)))
        return lists

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            return super().zero_grad(set_to_none=False)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _lists_for_step(self):
        """The cached lists, rebuilt when the set of parameters with a gradient changes."""
        lists = self._lists
        if lists is not None:
            for group, entry in zip(self.param_groups, lists):
                with_grad = [p for p in group["params"] if p.grad is not None]
                if len(with_grad) != len(entry[1]) or any(a is not b for a, b in zip(with_grad, entry[1])):
                    lists = None
                    break
        if lists is None:
            lists = self._lists = self._group_lists()
        return lists

    def step(self, closure=None):
        # torch.optim wraps every optimizer's step in a profiler range and hook calls,
        # which at batch 32 costs a sizeable part of the update itself: do that work
        # only when a profiler runs or a hook is registered.
        if _profiler_enabled() or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks or _global_hooks():
            return self._hooked_step(closure)
        with torch.no_grad():
            return self._step(closure)

    def _step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        scaled = getattr(self, "grad_scale", None) is not None or getattr(self, "found_inf", None) is not None
        for group, params, exp_avgs, exp_avg_sqs, max_sqs, steps, has_complex, fused_cpu in self._lists_for_step():
            if not params:
                continue
            beta1, beta2 = group["betas"]
            if fused_cpu and not scaled and type(group["lr"]) is float:
                # the kernel torch.optim.Adam(fused=True) runs, without its per-step checks
                for step in steps:  # a tensor operand: cheaper than a Python scalar or a foreach call
                    step.add_(constant(1.0, step))
                torch._fused_adam_(
                    params, [p.grad for p in params], exp_avgs, exp_avg_sqs, max_sqs, steps, amsgrad=group["amsgrad"],
                    lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
                )
                continue
            _adam_update(
                params,
                [p.grad for p in params],
                exp_avgs,
                exp_avg_sqs,
                max_sqs,
                steps,
                amsgrad=group["amsgrad"],
                has_complex=has_complex,
                beta1=beta1,
                beta2=beta2,
                lr=group["lr"],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=group["maximize"],
                foreach=group["foreach"],
                capturable=group["capturable"],
                differentiable=group["differentiable"],
                fused=group["fused"],
                grad_scale=getattr(self, "grad_scale", None),
                found_inf=getattr(self, "found_inf", None),
                decoupled_weight_decay=group["decoupled_weight_decay"],
            )
        return loss


@torch.optim.Optimizer.profile_hook_step
def _hooked(self, closure=None):
    with torch.no_grad():
        return self._step(closure)


LeanAdam._hooked_step = _hooked
LeanAdam.step.hooked = True  # keeps torch.optim from wrapping it again (it would on every construction)


def _profiler_enabled() -> bool:
    return torch.autograd.profiler._is_profiler_enabled


def _global_hooks() -> bool:
    return bool(_torch_optimizer._global_optimizer_pre_hooks or _torch_optimizer._global_optimizer_post_hooks)


def _fused_cpu_ok(group, params, has_complex: bool) -> bool:
    """Whether the fused CPU kernel can be called directly: real parameters, no decoupled decay, not differentiable or capturable.

    The learning rate (a float, not a tensor) and the absence of a grad scaler are
    checked at each step, since schedulers and ``GradScaler`` can change them.
    """
    return (
        group["fused"]
        and hasattr(torch, "_fused_adam_")
        and not has_complex
        and not group["decoupled_weight_decay"]
        and not group["differentiable"]
        and not group["capturable"]
        and bool(params)
        and params[0].device.type == "cpu"
    )


def make_optimizer(name: str, params, lr: float | None = None, **kwargs) -> torch.optim.Optimizer:
    """``adam`` (default lr 1e-3, as in Keras) or ``sgd`` (plain ``w <- w - lr * dL/dw``, momentum 0 unless given)."""
    name = str(name).lower()
    params = list(params)
    if name == "adam":
        return LeanAdam(params, lr=1e-3 if lr is None else lr, **kwargs)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-2 if lr is None else lr, momentum=kwargs.pop("momentum", 0.0), **kwargs)
    raise ArgumentError("optimizer", f"{name!r}: expected adam or sgd")
