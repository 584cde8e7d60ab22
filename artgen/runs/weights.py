"""Weights that load safely: safetensors and ``torch.load(weights_only=True)`` files, checked tensor by tensor.

Loading never runs code (a file holding pickled objects is refused with one line); tensors
with a non-real dtype or NaN/inf values are refused naming the file and tensor; loading into
a module lists missing and unexpected keys and shape mismatches.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from .atomic import atomic_path


def unwrap(module: nn.Module) -> nn.Module:
    """The plain model inside ``torch.compile`` and DistributedDataParallel wrappers."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        else:
            return module


def save_weights(
    path: str | os.PathLike, modules: Mapping[str, nn.Module], metadata: Mapping[str, str] | None = None
) -> Path:
    """Save the modules' weights in one safetensors file, keys ``<name>.<param>``, written atomically.

    Each module is unwrapped (:func:`unwrap`) and its tensors copied to the CPU, any
    dtype kept. ``metadata`` values are stored as strings in the safetensors header.
    Returns ``path``.

    Raises:
        ArtgenError: the disk is full (the previous file is intact).
        UsageError: a part of ``path`` is a file, or it cannot be written (permissions).
    """
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
    ``torch.load(weights_only=True)``; a ``{"state_dict": {...}}`` wrapper is opened.
    Returns ``{key: tensor}`` on the CPU, dtypes as stored.

    Raises:
        CheckpointError: the file is missing, unreadable, holds pickled Python objects,
            is not a mapping of tensors, or fails :func:`check_tensors`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file '{path}' does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return check_tensors(load_file(str(path)), path)
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"cannot read '{path}': {exc}") from None
    data = safe_torch_load(path)
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"'{path}' is not a state dict of tensors")
    return check_tensors(dict(data), path)


def check_tensors(tensors: dict[str, torch.Tensor], source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Refuse weights no model of artgen holds: complex or boolean tensors, NaN or infinite values.

    Returns ``tensors`` unchanged. Integer tensors pass here (counters such as
    BatchNorm's ``num_batches_tracked`` are integers); :func:`load_state_into`
    refuses an integer tensor where the model holds floats.

    Raises:
        CheckpointError: naming ``source`` and the first bad tensor.
    """
    for key, value in tensors.items():
        if value.is_complex() or value.dtype == torch.bool:
            raise CheckpointError(
                f"'{source}': tensor '{key}' has dtype {str(value.dtype).replace('torch.', '')}, not a real number type; the file is not artgen weights"
            )
        if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"'{source}': tensor '{key}' holds {bad} NaN or infinite value(s); the weights are damaged (training diverged?)"
            )
    return tensors


def safe_torch_load(path: str | os.PathLike):
    """``torch.load(weights_only=True, map_location="cpu")`` with one-line errors; never unpickles code.

    Raises:
        CheckpointError: the file holds Python objects beyond tensors and plain
            containers, or cannot be read (missing, truncated, not a torch file).
    """
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe pickle"
        raise CheckpointError(
            f"refusing to load '{path}': it holds Python objects that could run code, not plain weights ({reason})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"cannot read '{path}': {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def split_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``tensors`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)}


def load_state_into(module: nn.Module, state: Mapping[str, torch.Tensor], *, what: str = "model") -> None:
    """Copy ``state`` into ``module`` (unwrapped first) with ``strict=True``.

    ``what`` names the weights in messages (e.g. ``"generator"``).

    Raises:
        CheckpointError: missing or unexpected keys or shape mismatches (listing up to 8
            of each); a complex, boolean or integer tensor where the model holds floats;
            NaN or infinite values.
    """
    module = unwrap(module)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    for k in sorted(set(own) & set(state)):
        value = state[k]
        if (
            value.is_complex()
            or value.dtype == torch.bool
            or (own[k].is_floating_point() and not value.is_floating_point())
        ):
            raise CheckpointError(
                f"{what} weights: tensor '{k}' has dtype {str(value.dtype).replace('torch.', '')} where the model holds {str(own[k].dtype).replace('torch.', '')}"
            )
        if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{what} weights: tensor '{k}' holds NaN or infinite values")
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


def header_shapes(path: str | os.PathLike) -> dict[str, tuple[tuple[int, ...], str]]:
    """``{key: (shape, dtype)}`` of a safetensors file, read from its header alone (no tensor is loaded).

    safetensors checks on opening that the header's offsets cover the file exactly, so the
    shapes are those of tensors the file really holds.

    Raises:
        CheckpointError: the file is missing, not safetensors, or damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file '{path}' does not exist")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            out = {}
            for key in f.keys():  # noqa: SIM118 (safetensors: keys() is the method, not a dict view)
                part = f.get_slice(key)
                out[key] = (tuple(int(n) for n in part.get_shape()), str(part.get_dtype()))
            return out
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"cannot read '{path}': {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def meta_shapes(build: Callable[[], nn.Module]) -> dict[str, tuple[tuple[int, ...], int]]:
    """``{key: (shape, bytes)}`` of the state dict of the module ``build()`` makes, built on the meta
    device: no memory is allocated for its tensors, whatever sizes its config asks for.

    ``build`` runs inside ``torch.device("meta")``: code it calls that caches a module for later
    (a pretrained part read once per process) must build that part under an explicit
    ``torch.device("cpu")``, or the cache would hold tensors without data."""
    with torch.device("meta"):
        module = build()
    return {k: (tuple(v.shape), v.numel() * v.element_size()) for k, v in unwrap(module).state_dict().items()}


def check_config_fits_weights(
    weights_path: str | os.PathLike,
    builders: Mapping[str, Callable[[], nn.Module]],
    *,
    config_path: str | os.PathLike,
) -> None:
    """Before building a model from an untrusted run folder, check that its config asks for the tensors
    its weights file holds.

    Each ``builders[name]()`` makes (on the meta device, allocating nothing) the module whose
    weights are stored under ``<name>.`` in ``weights_path`` (the keys of
    :meth:`artgen.runs.setup.SavedRun.load_into`). Every tensor's shape must equal the shape in the
    safetensors header, and every key must be present: a config edited to ask for larger layers
    is refused before any memory is allocated, since the weights file bounds what a config may
    build (its header is checked against the file's size by safetensors). Only the header is read.

    Raises:
        CheckpointError: one line naming ``config_path``, the weights file, and the first tensor
            (or key) whose shape the config and the file disagree on, with the memory the config
            asks for.
    """
    held = header_shapes(weights_path)
    wanted: dict[str, tuple[tuple[int, ...], int]] = {}
    for name, build in builders.items():
        try:
            shapes = meta_shapes(build)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(
                f"'{config_path}' describes no model artgen can build: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        wanted.update({f"{name}.{k}": v for k, v in shapes.items()})
    asked = sum(b for _, b in wanted.values())
    stored = sum(_numel(s) * _dtype_size(d) for s, d in held.values())
    for key, (shape, _) in wanted.items():
        if key not in held:
            raise CheckpointError(
                f"'{config_path}' does not match '{weights_path}': the config's model has a tensor '{key}' {shape} that the weights file lacks (edited config?)"
            )
        if held[key][0] != shape:
            raise CheckpointError(
                f"'{config_path}' does not match '{weights_path}': tensor '{key}' is {shape} by the config, "
                f"{held[key][0]} in the weights file (the config asks for {_bytes(asked)} of weights, the file holds {_bytes(stored)}; edited config?)"
            )
    extra = sorted(k for k in held if k.split(".", 1)[0] in builders and k not in wanted)
    if extra:
        raise CheckpointError(
            f"'{config_path}' does not match '{weights_path}': the weights file holds tensors the config's model lacks: {_short_list(extra)}"
        )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _dtype_size(name: str) -> int:
    digits = "".join(ch for ch in name.split("_")[0] if ch.isdigit())  # "F32" -> 4, "BF16" -> 2, "F8_E4M3" -> 1
    return max(1, int(digits) // 8) if digits else 1


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
