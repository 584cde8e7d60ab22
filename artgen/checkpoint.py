"""Run folders and checkpoints that load safely and are written atomically.

A run folder holds:

- ``config.json``: everything needed to rebuild the model (the head name, the model
  config, the training settings) plus artgen's version;
- ``model.safetensors``: the weights users keep, keyed ``<module>.<param>``;
- ``training_state.pt``: what ``--resume`` needs (all module and optimizer states,
  the step, the random states, the history so far), loaded with
  ``torch.load(weights_only=True)`` so it can never run code.

Every file is written to a temporary file in the same folder and moved into place
with ``os.replace``: an interrupted write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError, UsageError
from .fileio import atomic_path, write_json_atomic

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
STATE_NAME = "training_state.pt"


# --- state dicts --------------------------------------------------------------------


def unwrap(module: nn.Module) -> nn.Module:
    """The plain model inside ``torch.compile`` and DistributedDataParallel wrappers."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        else:
            return module


def save_weights(path: str | os.PathLike, modules: Mapping[str, nn.Module], metadata: Mapping[str, str] | None = None) -> Path:
    """Save the modules' weights in one safetensors file, keys ``<name>.<param>``."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in unwrap(module).state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().to("cpu").contiguous().clone()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
    return Path(path)


def load_weights_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a weights file without ever executing code from it.

    ``.safetensors`` through safetensors; ``.pt``/``.pth``/``.bin`` through
    ``torch.load(weights_only=True)``. A file holding pickled Python objects is
    refused with :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file '{path}' does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read '{path}': {exc}") from None
    data = safe_torch_load(path)
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"'{path}' is not a state dict of tensors")
    return dict(data)


def safe_torch_load(path: str | os.PathLike):
    """``torch.load(weights_only=True)`` with one-line errors; never unpickles code."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe pickle"
        raise CheckpointError(
            f"refusing to load '{path}': it holds Python objects that could run code, not plain weights ({reason})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read '{path}': {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def split_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``tensors`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {k[len(start):]: v for k, v in tensors.items() if k.startswith(start)}


def load_state_into(module: nn.Module, state: Mapping[str, torch.Tensor], *, what: str = "model") -> None:
    """Copy ``state`` into ``module``; any missing or unexpected key or shape mismatch is an error listing them."""
    module = unwrap(module)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append("missing keys: " + _short_list(missing))
    if unexpected:
        problems.append("unexpected keys: " + _short_list(unexpected))
    if mismatched:
        problems.append("shape mismatch: " + _short_list(mismatched))
    if problems:
        raise CheckpointError(f"{what} weights do not match the model; " + "; ".join(problems))
    module.load_state_dict(state, strict=True)


def _short_list(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# --- run folders --------------------------------------------------------------------


class RunDir:
    """A training run's folder: config, weights, resumable state, and outputs."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir('{self.path}')"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # config
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    def has_config(self) -> bool:
        return self.config_path.is_file()

    def save_config(self, config: Mapping) -> Path:
        from . import __version__

        data = dict(config)
        data.setdefault("artgen_version", __version__)
        return write_json_atomic(self.config_path, data)

    def load_head_config(self, head: str, noun: str, *, what: str = "") -> dict:
        """``load_config`` for a run that must belong to ``head``; otherwise one line naming both."""
        cfg = self.load_config()
        if cfg.get("head") != head:
            prefix = f"{what} " if what else ""
            raise CheckpointError(f"{prefix}'{self.path}' holds a {cfg.get('head', 'unknown')!r} run, not a {noun}")
        return cfg

    def load_config(self) -> dict:
        if not self.path.exists():
            raise CheckpointError(f"run folder '{self.path}' does not exist")
        if not self.config_path.is_file():
            raise CheckpointError(f"'{self.path}' is not an artgen run folder (no {CONFIG_NAME})")
        try:
            return json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"cannot read '{self.config_path}': {exc}") from None

    # weights
    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_NAME

    def save_weights(self, modules: Mapping[str, nn.Module], metadata: Mapping[str, str] | None = None) -> Path:
        return save_weights(self.weights_path, modules, metadata)

    def load_weights(self) -> dict[str, torch.Tensor]:
        if not self.weights_path.is_file():
            raise CheckpointError(f"run folder '{self.path}' has no {WEIGHTS_NAME}")
        return load_weights_file(self.weights_path)

    # resumable training state
    @property
    def state_path(self) -> Path:
        return self.path / STATE_NAME

    def has_state(self) -> bool:
        return self.state_path.is_file()

    def save_state(self, state: Mapping) -> Path:
        with atomic_path(self.state_path) as tmp:
            torch.save(dict(state), tmp)
        return self.state_path

    def load_state(self) -> dict:
        if not self.has_state():
            raise CheckpointError(f"nothing to resume in '{self.path}' (no {STATE_NAME})")
        data = safe_torch_load(self.state_path)
        if not isinstance(data, dict) or "step" not in data:
            raise CheckpointError(f"'{self.state_path}' is not an artgen training state")
        return data

    def prepare(self, *, resume: bool = False, overwrite: bool = False) -> "RunDir":
        """Check the folder before a long job: new, resumable, or explicitly overwritten."""
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out '{self.path}' exists and is not a folder")
        if resume:
            if not self.has_state():
                raise UsageError(f"--resume: nothing to resume in '{self.path}' (no {STATE_NAME})")
        elif self.path.exists() and (self.has_config() or self.has_state()) and not overwrite:
            raise UsageError(f"run folder '{self.path}' already holds a run; pass --resume to continue it or --overwrite to start over")
        self.path.mkdir(parents=True, exist_ok=True)
        if overwrite and not resume:
            for old in (self.config_path, self.weights_path, self.state_path):
                old.unlink(missing_ok=True)
        probe = self.path / ".artgen-write-test"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"cannot write to run folder '{self.path}': {exc.strerror or exc}") from None
        return self
