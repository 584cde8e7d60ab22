"""Environment variables artgen reads, each parsed in one place.

``ARTGEN_OFFLINE``: when set to anything other than empty, ``0``, ``false`` or
``no`` (any case, surrounding spaces ignored), nothing is downloaded: the VGG19
encoder and the TF-Inception network are taken from local copies or replaced by
their offline fallbacks.
"""

from __future__ import annotations

import os

OFFLINE_VAR = "ARTGEN_OFFLINE"
_ONLINE_VALUES = ("", "0", "false", "no")


def offline() -> bool:
    """Whether ``$ARTGEN_OFFLINE`` asks for no downloads.

    Unset, empty, ``0``, ``false`` and ``no`` (case-insensitive) mean online;
    every other value (``1``, ``true``, ``yes``, ...) means offline. Raises nothing.
    """
    return os.environ.get(OFFLINE_VAR, "").strip().lower() not in _ONLINE_VALUES
