"""A trained style network for pictures, folders, video and ONNX (:class:`FastStyle`), and reading style-network run folders."""

from __future__ import annotations

import concurrent.futures as futures
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..device import Precision, resolve_device
from ..errors import ArgumentError, ArtgenError, CheckpointError, ImageError, UsageError
from ..images import check_writable, load_tensor, rgb_to_yiq, save_image, to_pil, with_chroma
from ..runs.config import check_fraction
from ..runs.folder import RunDir
from ..runs.setup import SavedRun, from_pretrained, save_pretrained
from ..runs.weights import check_config_fits_weights
from ..train import show_progress
from .config import CONFIG_VERSION, HEAD, migrate_config
from .networks import StyleNet, StyleNetConfig, make_net

log = logging.getLogger("artgen")


def finish(
    styled: torch.Tensor, content: torch.Tensor, *, strength: float = 1.0, preserve_colors: bool = False
) -> torch.Tensor:
    """Post-process a stylised batch: keep the photo's colours (YIQ chroma) and/or blend back towards it."""
    styled = styled.float().clamp(0, 1)
    content = content.float()
    if preserve_colors:
        styled = with_chroma(rgb_to_yiq(styled)[:, :1], content)
    if strength < 1.0:
        styled = torch.lerp(content, styled, float(strength))
    return styled


def check_strength(strength: float) -> float:
    """``strength`` as a float in [0, 1] (0 = the photo, 1 = fully stylised).

    Raises:
        ArgumentError: outside [0, 1] or NaN.
    """
    return check_fraction("strength", strength)


#: Smallest core tile side in pixels (0 turns tiling off). Each tile also computes a margin of the
#: network's receptive-field radius plus the cross-fade (58 px for ``small``, 70 px for ``standard``)
#: on every side, so tiles below about twice that spend most of their time on margins.
MIN_TILE = 16


def check_apply_options(*, max_size: int | None = None, tile: int | None = None) -> None:
    """The checks :meth:`FastStyle.stylize`, :meth:`~FastStyle.stylize_tensor` and
    :meth:`~FastStyle.stylize_files` run before any work (the command line runs the same ones).

    Args:
        max_size: None or 0 (no limit), or the long side in pixels (>= 1).
        tile: None (automatic), 0 (never tile) or a core tile side of at least :data:`MIN_TILE`.
    Raises:
        ArgumentError: naming ``max_size`` or ``tile`` and the value.
    """
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0):
        raise ArgumentError(
            "max_size", f"must be None or 0 (no limit) or a positive number of pixels, got {max_size!r}"
        )
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or (tile != 0 and tile < MIN_TILE)):
        raise ArgumentError(
            "tile",
            f"must be 0 (never tile) or at least {MIN_TILE} pixels, got {tile!r} (tiles of 128 px or more waste least time on their margins)",
        )


class FastStyle:
    """A trained style network ready to stylise PIL images, tensors, files and folders.

    ``FastStyle.load(path, device="auto", precision="fp32", channels_last=None, compile=False)``.
    On CUDA, ``precision="bf16"`` (or fp16), ``channels_last`` (on by default there)
    and ``compile=True`` are the fast settings; on the CPU fp32 is the fast one.
    """

    def __init__(
        self,
        net: StyleNet,
        *,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        channels_last: bool | None = None,
        compile: bool = False,
        info: Mapping | None = None,
    ):
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.precision = Precision.create(precision, self.device)
        self.net = net.to(self.device).eval()
        self.config = net.config
        self.channels_last = self.device.type == "cuda" if channels_last is None else bool(channels_last)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.net
        if compile:
            self._forward = torch.compile(self.net)
        self.info = dict(info or {})
        self.history = None

    def __repr__(self) -> str:
        return f"FastStyle(arch={self.config.arch!r}, parameters={self.net.num_parameters():,}, device={self.device}, precision={self.precision.name})"

    # -- loading and saving ------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        device: str | torch.device = "auto",
        precision: str = "fp32",
        channels_last: bool | None = None,
        compile: bool = False,
    ) -> FastStyle:
        """A style network from a run folder written by :func:`train_fast_style` (or ``artgen fast-style train``)."""
        saved = open_run(path, "model")
        config = saved.settings(StyleNetConfig, "model")
        check_weights_fit(saved.run, config)
        net = make_net(config)
        load_net_weights(net, saved, "model")
        train = saved.config.get("train", {})
        return cls(
            net,
            device=device,
            precision=precision,
            channels_last=channels_last,
            compile=compile,
            info={
                "path": str(saved.run.path),
                "styles": train.get("styles", []),
                "encoder": saved.config.get("encoder"),
            },
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write config.json and model.safetensors (weights only) into the folder ``path``."""
        return save_pretrained(
            path,
            {
                "head": HEAD,
                "config_version": CONFIG_VERSION,
                "model": self.config.to_dict(),
                "train": {"styles": self.info.get("styles", [])},
                **({"encoder": self.info["encoder"]} if self.info.get("encoder") else {}),
            },
            {"net": self.net},
        )

    # -- stylising -----------------------------------------------------------------------------
    @torch.no_grad()
    def stylize_tensor(
        self,
        x: torch.Tensor,
        *,
        strength: float = 1.0,
        preserve_colors: bool = False,
        seamless: bool = False,
        tile: int | None = None,
    ) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> the stylised batch, float32 on the model's device
        (on the CPU when tiled).

        ``tile``: core tile side in pixels for pictures in bounded memory (``None``: tiles
        of 1024 px for pictures over 2048 x 2048 pixels, else one pass; ``0``: never tile);
        see :func:`artgen.tiling.tiled_style_net`. ``seamless``: the output tiles the plane
        (circular padding; margins read around the edges), whatever the input: its opposite edges
        are first made to meet smoothly when they do not already (:func:`artgen.tiling.make_tileable`,
        which changes the picture only near its edges).

        Raises:
            ArgumentError: ``strength`` outside [0, 1]; ``tile`` negative or in 1..15.
        """
        from .. import tiling

        strength = check_strength(strength)
        check_apply_options(tile=tile)
        core = tiling.net_tile(*x.shape[-2:], tile)
        if core is not None or seamless:
            return self._stylize_tiled(x, core, seamless, strength=strength, preserve_colors=preserve_colors)
        x = x.to(self.device, torch.float32, non_blocking=True)
        inp = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        with self.precision.autocast():
            y = self._forward(inp)
        return finish(y, x, strength=strength, preserve_colors=preserve_colors)

    def _metadata(self, strength: float) -> dict[str, Any]:
        """What every output of this network records (PNG metadata, video metadata): the network and its style."""
        return {
            "head": HEAD,
            "model": self.info.get("path"),
            "styles": self.info.get("styles", []),
            "encoder": self.info.get("encoder"),
            "arch": self.config.arch,
            "strength": strength,
        }

    def _stylize_tiled(self, x: torch.Tensor, core: int | None, seamless: bool, **post) -> torch.Tensor:
        """Tiles (or, for ``seamless``, one wrap-around tile) per picture; the batch stays on the CPU."""
        from .. import tiling

        def forward(piece: torch.Tensor) -> torch.Tensor:
            piece = piece.to(self.device, torch.float32)
            with self.precision.autocast():
                return self._forward(
                    piece.contiguous(memory_format=torch.channels_last) if self.channels_last else piece
                )

        x = x.detach().float().cpu()
        stride = self.config.stride
        outs = []
        self.net.set_padding_mode("circular" if seamless else "reflect")
        try:
            for picture in x.split(1):
                if seamless:  # a photo's opposite edges differ: make it wrap around first, or the network paints the line where they meet
                    picture = tiling.make_tileable(picture)
                h, w = picture.shape[-2:]
                if seamless and core is None and h % stride == 0 and w % stride == 0:
                    y = forward(picture).float().cpu()  # the circular network alone is exactly periodic
                else:
                    y = tiling.tiled_style_net(
                        forward, self.net, picture, tile=core, device=self.device, wrap=seamless
                    )
                outs.append(finish(y, picture, **post))
        finally:
            self.net.set_padding_mode("reflect")
        return torch.cat(outs)

    @torch.no_grad()
    def stylize(
        self,
        image,
        *,
        max_size: int | None = None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        seamless: bool = False,
        tile: int | None = None,
    ):
        """Stylise one image: a PIL image or a path gives a PIL image; a tensor
        ``(3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] gives a tensor of the same shape (on the CPU).

        ``max_size`` shrinks the input so its long side is at most that many pixels (None or 0:
        no limit); ``seamless`` and ``tile`` are :meth:`stylize_tensor`'s.

        Raises:
            ArgumentError: ``strength`` outside [0, 1], a negative ``max_size``, ``tile`` in 1..15
                (:func:`check_apply_options`).
            UsageError: a tensor that is not (3, H, W) or (B, 3, H, W).
        """
        check_apply_options(max_size=max_size, tile=tile)
        max_size = max_size or None
        post = dict(strength=strength, preserve_colors=preserve_colors, seamless=seamless, tile=tile)
        if isinstance(image, torch.Tensor):
            t = image.detach().float()
            single = t.dim() == 3
            if single:
                t = t.unsqueeze(0)
            if t.dim() != 4 or t.shape[1] != 3:
                raise UsageError(f"expected an image tensor (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
            if max_size is not None and max(t.shape[-2:]) > max_size:
                t = torch.stack([load_tensor(i, max_side=max_size) for i in t])
            out = self.stylize_tensor(t, **post).cpu()
            return out[0] if single else out
        t = load_tensor(image, mode="RGB", max_side=max_size).unsqueeze(0)
        return to_pil(self.stylize_tensor(t, **post)[0])

    def stylize_files(
        self,
        inputs: Sequence[str | os.PathLike] | str | os.PathLike,
        out: str | os.PathLike,
        *,
        max_size: int | None = 1024,
        strength: float = 1.0,
        preserve_colors: bool = False,
        overwrite: bool = False,
        metadata: bool | Mapping[str, Any] = True,
        progress: bool | None = None,
        prefetch: int = 4,
        seamless: bool = False,
        tile: int | None = None,
    ) -> dict[str, Any]:
        """Stylise image files; one file in with ``out`` a file name writes that file, otherwise
        ``out`` is a folder that receives one PNG per input (folders keep their sub-folders).

        Reading and decoding the next images and writing the finished ones run in
        background threads while the network works on the current one. ``seamless``
        and ``tile`` are :meth:`stylize_tensor`'s (large pictures go tile by tile). Unreadable
        files are skipped with a warning naming each one, and counted. Returns
        ``{"written": [...], "skipped": [(path, reason), ...], "outputs": [...]}``.
        """
        strength = check_strength(strength)
        check_apply_options(max_size=max_size, tile=tile)
        max_size = max_size or None
        jobs = plan_outputs(inputs, out)
        for _, dest in jobs:
            check_writable(dest, overwrite=overwrite)
        extra = dict(metadata) if isinstance(metadata, Mapping) else {}
        base_meta = {
            **self._metadata(strength),
            "preserve_colors": preserve_colors,
            "max_size": max_size,
            "precision": self.precision.name,
            "seamless": seamless,
            **extra,
        }

        def read(path: Path) -> torch.Tensor:
            return load_tensor(path, mode="RGB", max_side=max_size)

        def write(img, dest: Path, src: Path) -> Path:
            meta = {**base_meta, "input": str(src)} if metadata is not False else None
            return save_image(img, dest, metadata=meta, overwrite=overwrite)

        from ..progress import progress_bar as tqdm

        enabled = show_progress(progress)
        written: list[Path] = []
        skipped: list[tuple[Path, str]] = []
        with (
            futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="artgen-read") as readers,
            futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="artgen-write") as writers,
        ):
            pending_reads: list[futures.Future] = []
            pending_writes: list[futures.Future] = []
            it = iter(jobs)

            def submit_next() -> None:
                job = next(it, None)
                if job is not None:
                    pending_reads.append((job, readers.submit(read, job[0])))

            for _ in range(max(1, prefetch)):
                submit_next()
            with tqdm(total=len(jobs), desc="fast-style", unit="img", disable=not enabled, dynamic_ncols=True) as bar:
                while pending_reads:
                    (src, dest), fut = pending_reads.pop(0)
                    submit_next()
                    try:
                        image = fut.result()
                    except ImageError as exc:
                        reason = getattr(exc, "reason", None) or str(exc)
                        log.warning("skipped '%s': %s", src, reason)
                        skipped.append((src, reason))
                        bar.update(1)
                        continue
                    styled = self.stylize_tensor(
                        image.unsqueeze(0),
                        strength=strength,
                        preserve_colors=preserve_colors,
                        seamless=seamless,
                        tile=tile,
                    )[0].cpu()
                    pending_writes.append(writers.submit(write, styled, dest, src))
                    # keep the number of images waiting to be written bounded
                    while len(pending_writes) > prefetch:
                        written.append(pending_writes.pop(0).result())
                    bar.update(1)
                for fut in pending_writes:
                    written.append(fut.result())
        if skipped:
            log.warning("skipped %d of %d files (unreadable)", len(skipped), len(jobs))
        if not written and skipped:
            raise ArtgenError(f"none of the {len(jobs)} input images could be read")
        return {"written": written, "skipped": skipped, "outputs": [d for _, d in jobs]}

    def stylize_video(
        self,
        src: str | os.PathLike,
        dst: str | os.PathLike,
        *,
        max_size: int | None = None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        temporal_filter: float = 0.0,
        overwrite: bool = False,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """Stylise every frame of a video (.mp4 .mov .m4v .mkv .webm .avi, or an animated .gif)
        into ``dst``, keeping timing, rotation and sound; see :func:`artgen.video.stylize_video`.
        ``temporal_filter`` in [0, 1) smooths flicker (:class:`artgen.video.TemporalFilter`)."""
        from ..video import stylize_video

        meta = self._metadata(strength)
        return stylize_video(
            self,
            src,
            dst,
            max_size=max_size,
            strength=strength,
            preserve_colors=preserve_colors,
            temporal_filter=temporal_filter,
            overwrite=overwrite,
            progress=progress,
            metadata=meta,
        )

    # -- export ----------------------------------------------------------------------------------
    def export_onnx(
        self,
        path: str | os.PathLike,
        *,
        check: bool = True,
        opset: int = 17,
        overwrite: bool = False,
        test_size: tuple[int, int] = (181, 243),
    ) -> dict[str, Any]:
        """Write an ONNX model with dynamic batch, height and width (input ``image``,
        output ``stylized``, both (B, 3, H, W) in [0, 1]; sides of at least 16 px).

        With ``check`` and onnxruntime installed, the export is run on a test image of a
        different size than the one traced and compared with PyTorch; returns
        ``{"path", "checked", "max_abs_diff"}``.
        """
        import copy

        from .._onnx import export_stylizer

        net = copy.deepcopy(self.net).float().cpu().eval().to(memory_format=torch.contiguous_format)
        return export_stylizer(net, path, test_size=test_size, opset=opset, check=check, overwrite=overwrite)


def plan_outputs(
    inputs: Sequence[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike
) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs. One file in and ``out`` with an image suffix: that file.
    Otherwise ``out`` is a folder: ``<stem>.png`` per file, folders keep their relative layout."""
    from ..data import list_images
    from ..images import WRITE_EXTENSIONS

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [Path(p).expanduser() for p in inputs]
    if not inputs:
        raise UsageError("give at least one input image or folder")
    for p in inputs:
        if not p.exists():
            raise UsageError(f"input '{p}' does not exist")
    out = Path(out).expanduser()
    if len(inputs) == 1 and inputs[0].is_file() and out.suffix.lower() in WRITE_EXTENSIONS and not out.is_dir():
        return [(inputs[0], out)]
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o '{out}' is a file; with several inputs or a folder, -o must be a folder")
    jobs: list[tuple[Path, Path]] = []
    taken: set[Path] = set()
    for p in inputs:
        if p.is_dir():
            pairs = [(f, f.relative_to(p).with_suffix(".png")) for f in list_images(p)]
            if not pairs:
                raise UsageError(f"no images found in '{p}'")
        else:
            pairs = [(p, Path(p.stem + ".png"))]
        for src, rel in pairs:
            dest = out / rel
            k = 1
            while dest in taken:
                dest = out / rel.with_name(f"{rel.stem}_{k}.png")
                k += 1
            taken.add(dest)
            jobs.append((src, dest))
    return jobs


def build_net(arch_or_config: str | StyleNetConfig, device) -> StyleNet:
    """A freshly initialised network of an architecture name (``standard``, ``small``, ``arbitrary``) or a config, on
    ``device`` (:func:`artgen.fast_style.networks.make_net`)."""
    cfg = arch_or_config if isinstance(arch_or_config, StyleNetConfig) else StyleNetConfig.for_arch(arch_or_config)
    return make_net(cfg).to(device)


def read_run(path: str | os.PathLike, what: str) -> tuple[RunDir, dict]:
    """The run folder and its config, with one clear line when it is not a style network."""
    run = RunDir(path)
    if not run.path.exists():
        raise UsageError(f"{what} '{run.path}' does not exist")
    if not run.path.is_dir():
        raise CheckpointError(
            f"{what} '{run.path}' is not a style network (expected a folder with config.json and model.safetensors)"
        )
    if not run.has_config():
        raise CheckpointError(
            f"{what} '{run.path}' is not a style network (no config.json); train one with 'artgen fast-style train'"
        )
    cfg = run.load_config()
    if cfg.get("head") != HEAD:
        raise CheckpointError(
            f"{what} '{run.path}' is not a style network (it holds a {cfg.get('head', 'unknown')!r} run)"
        )
    return run, migrate_config(cfg)


def open_run(path: str | os.PathLike, what: str) -> SavedRun:
    """:func:`artgen.runs.setup.from_pretrained` with :func:`read_run`'s messages."""
    return from_pretrained(path, read_config=lambda run: read_run(run.path, what)[1])


def check_weights_fit(run: RunDir, config: StyleNetConfig) -> None:
    """Refuse a run folder whose ``config.json`` asks for another network than its ``model.safetensors`` holds,
    before anything is allocated (see :func:`artgen.runs.weights.check_config_fits_weights`).

    Raises:
        CheckpointError: one line naming the config file, the weights file and the first tensor that differs.
    """
    check_config_fits_weights(run.weights_path, {"net": lambda: make_net(config)}, config_path=run.config_path)


def load_net_weights(net: StyleNet, saved: SavedRun, what: str) -> None:
    """Load the run's ``net.*`` weights into ``net`` (strict); errors name ``what`` and the folder (CheckpointError)."""
    saved.load_into({"net": net}, lambda _name: f"{what} '{saved.run.path}'")
