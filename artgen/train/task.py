"""What a head provides to the loop: a :class:`Task` (modules, optimizers, ``train_step``) and the :class:`StepContext` it steps through."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..device import Precision


class Task:
    """A head's training logic. Subclasses set ``modules`` and ``optimizers`` and implement ``train_step``.

    ``modules`` maps names to every module whose state must survive a resume (EMA
    copies included). ``export`` names those written to ``model.safetensors`` (all
    by default). ``extra_state``/``load_extra_state`` carry anything else a head
    needs to resume exactly (for example a learning-rate schedule).
    """

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    export: Sequence[str] | None = None

    def train_step(self, batch: Any, ctx: StepContext) -> Mapping[str, torch.Tensor | float]:
        """One training step: forward, losses, and the optimizer update(s), made through ``ctx``.

        Args:
            batch: what the :class:`BatchSource` yields, already on the device (for
                :class:`TensorBatches` a tuple of ``(B_local, ...)`` tensors; ``None``
                for :class:`Repeat`).
            ctx: the loop's :class:`StepContext` (precision, grad scaler, position).
        Returns:
            A mapping with at least ``"loss"``; each value a float, a 0-d tensor, or a 1-D
            tensor of per-sample values (the loop averages it). Values may stay on the device.
        Raises:
            NotImplementedError: in this base class.
        """
        raise NotImplementedError

    def train(self) -> None:
        """Put every module in ``modules`` in training mode (the loop calls it once before the first step)."""
        for module in self.modules.values():
            module.train()

    def extra_state(self) -> dict:
        """State the head needs to resume exactly beyond modules and optimizers (default ``{}``).

        Saved in ``training_state.pt``, so it must hold only what ``torch.load(weights_only=True)``
        reads back: tensors, numbers, strings, lists and dicts.
        """
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`extra_state` returned (``{}`` for a state saved without it)."""
        return None

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Wrap the trained modules for multi-process training (called by the loop under torchrun).

        The default wraps every module in ``modules`` that has trainable weights and
        points the task's attributes that held the plain module at the wrapper, so
        ``train_step`` runs through DistributedDataParallel. Override it when a step
        needs something else.
        """
        for name, module in list(self.modules.items()):
            wrapped = wrap(module)
            if wrapped is module:
                continue
            self.modules[name] = wrapped
            for attr, value in list(vars(self).items()):
                if value is module:
                    setattr(self, attr, wrapped)

    def export_modules(self) -> dict[str, nn.Module]:
        """The modules written to ``model.safetensors``: those named in ``export``, or all of ``modules``.

        Raises:
            KeyError: ``export`` names a module that is not in ``modules``.
        """
        names = self.export if self.export is not None else list(self.modules)
        return {name: self.modules[name] for name in names}


class StepContext:
    """What the loop hands a ``train_step``: device, precision, the grad scaler and position."""

    def __init__(self, device: torch.device, precision: Precision, *, rank: int = 0, world_size: int = 1):
        self.device = device
        self.precision = precision
        self.scaler = precision.make_scaler()
        self.step = 0  # steps completed before this one
        self.epoch = 0
        # Under torchrun each process sees 1/world_size of every batch. Random draws
        # that must match a single-process run (GAN noise, augmentation) are made for
        # the global batch on every process, then sliced with local_slice().
        self.rank = rank
        self.world_size = world_size

    def local_slice(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's share of a tensor drawn for the whole global batch.

        ``(B_global, ...)`` -> rows ``rank * per : (rank + 1) * per`` with
        ``per = B_global // world_size``; the tensor itself when ``world_size == 1``.
        """
        if self.world_size == 1:
            return tensor
        per = tensor.shape[0] // self.world_size
        return tensor[self.rank * per : (self.rank + 1) * per]

    def autocast(self):
        """A context manager running the forward pass in the run's precision (a no-op for fp32)."""
        return self.precision.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()`` for a 0-d ``loss``, scaled by the grad scaler under fp16."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; under fp16 through the grad scaler, which skips a step whose gradients overflowed."""
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def optimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """zero_grad (set to ``None``), backward (scaled for fp16), optimizer step, for a 0-d ``loss``."""
        optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step_optimizer(optimizer)
