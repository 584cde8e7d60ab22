"""Building and serving the studio page (Gradio Blocks); nothing is built or imported at import time."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..errors import ArtgenError
from .jobs import Jobs
from .workdir import Workdir

log = logging.getLogger("artgen.studio")

#: System fonts only: the page loads nothing from the internet.
FONTS = ["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]

CSS = """
#artgen-header {margin-bottom: 0.25rem}
footer {display: none !important}
"""


def offline_environment(workdir: Workdir) -> None:
    """Settings Gradio reads from the environment: no analytics, uploads cached inside ``workdir``."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["GRADIO_TEMP_DIR"] = str(workdir.folder("cache"))


class Studio:
    """What the page's handlers share: the working folder, the device, the jobs and the GANs loaded.

    Args:
        workdir: the working folder (created when missing).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        gan_settings: ``train_gan`` settings every GAN job uses instead of its defaults (tests: tiny networks).
        fast_style_settings: ``train_fast_style`` settings every style-network job uses instead of its
            defaults (tests: ``backbone="random"``, small batches).
        max_upload_mb: the largest upload accepted.
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        device: str = "auto",
        gan_settings: dict | None = None,
        fast_style_settings: dict | None = None,
        max_upload_mb: float | None = None,
    ):
        from ..device import resolve_device
        from .workdir import MAX_UPLOAD_MB

        self.workdir = Workdir(workdir, max_upload_mb=max_upload_mb or MAX_UPLOAD_MB)
        self.device = resolve_device(device)
        self.device_name = str(self.device)
        self.jobs = Jobs()
        self.gan_settings = dict(gan_settings or {})
        self.fast_style_settings = dict(fast_style_settings or {})
        self._loaded: dict[tuple, object] = {}
        self.cache: dict = {}  # what handlers keep between calls (the KID read from a run folder)
        self._lock = threading.Lock()

    def describe_device(self) -> str:
        """``"cuda:0 (NVIDIA H100)"``, ``"mps"`` or ``"cpu (8 threads)"``."""
        import torch

        if self.device.type == "cuda":
            return f"{self.device_name} ({torch.cuda.get_device_name(self.device)})"
        if self.device.type == "cpu":
            threads = torch.get_num_threads()
            return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
        return self.device_name

    def load_gan(self, folder: Path):
        """The GAN of run folder ``folder``, loaded safely (:meth:`artgen.GAN.load`) and kept while its weights are unchanged."""
        from ..gan import GAN

        return self._load("gan", folder, lambda: GAN.load(folder, device=self.device))

    def load_fast_style(self, folder: Path):
        """The style network of run folder ``folder``, loaded safely (:meth:`artgen.FastStyle.load`: safetensors and a
        checked config) and kept while its weights are unchanged."""
        from ..fast_style import FastStyle

        return self._load("fast_style", folder, lambda: FastStyle.load(folder, device=self.device))

    def _load(self, kind: str, folder: Path, load):
        """``load()``'s result for ``folder``, kept until a weights file in the folder changes."""
        weights = sorted(folder.glob("**/*.safetensors"))
        key = (kind, str(folder), tuple((str(w), w.stat().st_mtime_ns) for w in weights))
        with self._lock:
            if key not in self._loaded:
                self._loaded = {k: v for k, v in self._loaded.items() if k[:2] != key[:2]}
                self._loaded[key] = load()
            return self._loaded[key]

    def shown(self, fn, *args):
        """``fn(*args)``, its errors shown on the page as one line naming the cause."""
        import gradio as gr

        try:
            return fn(*args)
        except ArtgenError as exc:
            from .jobs import PAGE_NAMES

            raise gr.Error(" ".join(exc.for_cli(PAGE_NAMES).split()), print_exception=False) from None
        except MemoryError:
            raise gr.Error("out of memory; try a smaller size", print_exception=False) from None
        except Exception as exc:
            log.exception("studio handler failed")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise gr.Error(f"{type(exc).__name__}: {first}", print_exception=False) from None


def build_app(studio: Studio):
    """The studio page as a ``gr.Blocks`` (not yet served): a header naming the device, one tab per head."""
    offline_environment(studio.workdir)  # before Gradio reads its upload folder
    import gradio as gr

    from ..version import __version__
    from . import fast_style_tab, gan_tab, outputs_tab, stylize_tab, texture_tab

    with gr.Blocks(title="artgen studio", analytics_enabled=False) as app:
        gr.Markdown(
            f"## artgen studio\nartgen {__version__} · device **{studio.describe_device()}** · "
            f"working folder `{studio.workdir.root}` (the page reads and writes only inside it)",
            elem_id="artgen-header",
        )
        forms: dict[str, dict] = {}
        with gr.Tabs(elem_id="artgen-tabs") as tabs:
            with gr.Tab("Stylise", id="stylise", elem_id="tab-stylise"):
                forms["stylise"] = stylize_tab.build(studio)
            with gr.Tab("Texture", id="texture", elem_id="tab-texture"):
                forms["texture"] = texture_tab.build(studio)
            with gr.Tab("GAN", id="gan", elem_id="tab-gan"):
                forms["gan"] = gan_tab.build(studio)
            with gr.Tab("Fast style networks", id="fast-style", elem_id="tab-fast-style"):
                forms["fast"] = fast_style_tab.build(studio)
            with gr.Tab("Runs and outputs", id="outputs", elem_id="tab-outputs") as outputs:
                sub_tabs = {"gan": forms["gan"].pop("tabs"), "fast-style": forms["fast"].pop("tabs")}
                outputs_tab.build(studio, tabs, sub_tabs, forms, outputs)
    return app


def theme():
    """Gradio's default look with system fonts (no font is fetched from the internet)."""
    import gradio as gr

    return gr.themes.Default(font=FONTS, font_mono=MONO_FONTS)


def launch(
    studio: Studio, *, host: str = "127.0.0.1", port: int | None = None, open_browser: bool = False, block: bool = True
):
    """Serve the studio page on ``host:port`` (no share link); returns the Gradio app once it listens.

    With ``block`` (the command line) it serves until interrupted.
    """
    app = build_app(studio)
    app.queue(default_concurrency_limit=2)
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=open_browser,
        prevent_thread_lock=True,
        max_file_size=f"{int(studio.workdir.max_upload_mb)}mb",
        allowed_paths=[str(studio.workdir.root)],
        show_error=True,
        quiet=True,
        theme=theme(),
        css=CSS,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        footer_links=[],
    )
    if block:
        app.block_thread()
    return app
