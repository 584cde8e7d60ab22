"""artgen's version string, in a module of its own.

Modules low in the package (``checkpoint``, ``images``) stamp the version into
the files they write; they import it from here rather than from the package
root, which imports every head.  ``pyproject.toml`` reads it from here too.
"""

from __future__ import annotations

__version__ = "0.1.0"
