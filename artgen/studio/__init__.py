"""artgen studio: a local web page for every head (``pip install -e ".[studio]"``, then ``artgen studio``).

Built with Gradio, imported only when the page is built. Safe by default: it listens on 127.0.0.1,
makes no share link, reads and writes only inside its working folder, and opens uploads and run
folders as the command line does (size limits, decompression bombs refused, safetensors only).

>>> from artgen.studio import Studio, launch
>>> app = launch(Studio("artgen-studio"), port=7860, block=False)   # then open http://127.0.0.1:7860
"""

from __future__ import annotations


def __getattr__(name):
    """``Studio``, ``build_app`` and ``launch`` from :mod:`artgen.studio.app`, imported on first use."""
    if name in ("Studio", "build_app", "launch"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'artgen.studio' has no attribute {name!r}")


__all__ = ["Studio", "build_app", "launch"]
