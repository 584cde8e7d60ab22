"""ONNX export of an image network with dynamic batch and sides, checked against PyTorch with onnxruntime (one
path for every head that exports: trained style networks and the arbitrary-style network)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .errors import ArgumentError, ArtgenError, UsageError

log = logging.getLogger("artgen")

#: Largest difference between the export and PyTorch on the check picture before the export is refused.
MAX_EXPORT_DIFF = 1e-3


def export_image_network(
    module: torch.nn.Module,
    path: str | os.PathLike,
    *,
    example: tuple[torch.Tensor, ...],
    test: tuple[torch.Tensor, ...],
    input_names: list[str],
    dynamic_axes: dict,
    opset: int = 17,
    check: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``module`` (float32, CPU, eval mode) as ONNX at ``path`` (atomically), traced on ``example``; output ``stylized``.

    With ``check`` and onnxruntime installed, the file is run on ``test`` (inputs of other sizes than
    ``example``, in ``input_names`` order) and compared with ``module``. Returns ``{"path", "checked", "max_abs_diff"}``.

    Raises:
        ArgumentError: the name does not end in .onnx. UsageError: the file exists without ``overwrite``.
        ArtgenError: the check finds another shape, or a difference over :data:`MAX_EXPORT_DIFF`.
    """
    from .runs.atomic import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ArgumentError("onnx", f"'{path}': the file name must end in .onnx")
    if path.exists() and not overwrite:
        raise UsageError(f"output '{path}' exists; pass {{arg:overwrite=True}} to replace it")
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(tmp),
            dynamo=False,
            input_names=input_names,
            output_names=["stylized"],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
        )
    result: dict[str, Any] = {"path": path, "checked": False, "max_abs_diff": None}
    if not check:
        return result
    try:
        import onnxruntime as ort
    except ImportError:
        log.info("onnxruntime is not installed; the export was not checked")
        return result
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {name: t.numpy() for name, t in zip(input_names, test)})[0])
    with torch.no_grad():
        want = module(*test)
    if got.shape != want.shape:
        raise ArtgenError(
            f"the ONNX export gives shape {tuple(got.shape)} for a {tuple(test[0].shape)} input, PyTorch {tuple(want.shape)}"
        )
    diff = float((got - want).abs().max())
    result.update(checked=True, max_abs_diff=diff)
    if diff > MAX_EXPORT_DIFF:
        raise ArtgenError(f"the ONNX export differs from PyTorch by up to {diff:.2e} on a test image")
    return result


#: Batch, height and width of a picture ``(B, 3, H, W)`` vary in an exported network.
PICTURE_AXES = {0: "batch", 2: "height", 3: "width"}


def export_stylizer(
    module: torch.nn.Module,
    path: str | os.PathLike,
    *,
    test_size: tuple[int, int],
    opset: int = 17,
    check: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """:func:`export_image_network` for a one-input network ``image`` ``(B, 3, H, W)`` -> ``stylized`` ``(B, 3, H, W)``,
    traced on a seeded 64 x 96 picture and checked on one of ``test_size`` (H, W); same returns and errors."""
    example = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    test = torch.rand(1, 3, *test_size, generator=torch.Generator().manual_seed(1))
    return export_image_network(
        module,
        path,
        example=(example,),
        test=(test,),
        input_names=["image"],
        dynamic_axes={"image": PICTURE_AXES, "stylized": PICTURE_AXES},
        opset=opset,
        check=check,
        overwrite=overwrite,
    )
