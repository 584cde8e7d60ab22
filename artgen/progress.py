"""Progress bars that suit where they are shown: tqdm's widget in Jupyter, text on a terminal.

``tqdm.auto`` picks the notebook widget in a Jupyter kernel and, when ipywidgets is not
installed, warns "IProgress not found" before falling back to text. :func:`progress_bar` makes
the same choice without the warning: the widget when ipywidgets is importable, the text bar
otherwise (``pip install 'artgen[notebook]'`` installs ipywidgets).
"""

from __future__ import annotations

import importlib.util
import sys


def in_notebook() -> bool:
    """Whether the code runs in a Jupyter kernel (ipykernel's shell loaded, as tqdm checks, or an
    IPython shell started by ipykernel)."""
    if "ipykernel.zmqshell" in sys.modules:
        return True
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython that cannot say
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def has_widgets() -> bool:
    """Whether ipywidgets can be imported (what tqdm's notebook bar needs)."""
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):
        return False


def progress_class():
    """The tqdm class to use: ``tqdm.notebook.tqdm`` in Jupyter with ipywidgets, else ``tqdm.std.tqdm``."""
    if in_notebook() and has_widgets():
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(*args, **kwargs):
    """A tqdm progress bar (arguments as ``tqdm.tqdm``) of :func:`progress_class`; no "IProgress not found" warning."""
    return progress_class()(*args, **kwargs)
