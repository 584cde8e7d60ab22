"""Error types shared by every head.

The command line turns these into one-line messages and exit codes:
:class:`UsageError` exits 2 (a bad flag, value or missing input file given by the
user), any other :class:`ArtgenError` exits 1 (something failed at run time).
"""

from __future__ import annotations

import re

_ARG = re.compile(r"\{arg:(\w+)(?:=([^}]*))?\}")


def render_arguments(text: str, flags: dict[str, str] | None = None) -> str:
    """Fill the ``{arg:NAME}`` and ``{arg:NAME=VALUE}`` references of an error message.

    Without ``flags`` (library users) they read ``NAME`` and ``NAME=VALUE``; with the command
    line's ``{argument: flag}`` map they read ``--flag`` and ``--flag VALUE`` (``--flag`` alone for
    ``=True``), so one message speaks to notebooks and shells alike. A name the map lacks keeps its
    library form.
    """

    def one(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        flag = (flags or {}).get(name)
        if flag is None:
            return name if value is None else f"{name}={value}"
        if value is None or value == "True":
            return flag
        return f"{flag} {value}"

    return _ARG.sub(one, text)


class ArtgenError(Exception):
    """A runtime failure with a message fit to show a user as one line.

    The message may name arguments as ``{arg:NAME}`` or ``{arg:NAME=VALUE}`` (see
    :func:`render_arguments`): ``str(error)`` shows the library's names, :meth:`for_cli` the flags.
    """

    exit_code = 1

    def __init__(self, message: str = "", *args):
        self.template = message if isinstance(message, str) else str(message)
        super().__init__(render_arguments(self.template), *args)

    def for_cli(self, flags: dict[str, str]) -> str:
        """The message as the command line shows it: arguments named by their flags."""
        return render_arguments(self.template, flags)


class UsageError(ArtgenError):
    """The user asked for something invalid (flag value, missing file, bad device)."""

    exit_code = 2


class ImageError(ArtgenError):
    """An image file could not be read or decoded; the message names the file."""


class VideoError(ArtgenError):
    """A video file could not be read (not a video, no video stream, nothing decodes); the message names the file."""


class CheckpointError(ArtgenError):
    """A checkpoint or run folder is missing, unsafe, or does not match the model."""


class TrainingInterrupted(ArtgenError):
    """Training stopped on Ctrl-C or SIGTERM after saving a checkpoint."""

    exit_code = 130


class NonFiniteLossError(ArtgenError):
    """A loss became NaN or infinite; the message names the step."""


class ArgumentError(UsageError):
    """A bad argument value, in the library's words (``batch_size must be at least 1``).

    ``argument`` is the keyword argument's name; the command line shows the flag
    that sets it instead (``--batch-size must be at least 1``), and keeps the
    library's words where the command has no such flag. ``detail`` may name other
    arguments as ``{arg:NAME}`` or ``{arg:NAME=VALUE}`` (``use {arg:size=480} or more`` reads
    ``use size=480 or more`` in a notebook and ``use --size 480 or more`` in a shell).
    """

    def __init__(self, argument: str, detail: str):
        self.argument = argument
        self.detail = detail
        super().__init__(f"{{arg:{argument}}} {detail}")

    def with_flag(self, flag: str, flags: dict[str, str] | None = None) -> str:
        """The message with ``flag`` (e.g. ``--batch-size``) in place of the argument name,
        and the flags in ``flags`` (``{argument: flag}``) in place of the arguments it names."""
        return f"{flag} {render_arguments(self.detail, flags)}"

    def for_cli(self, flags: dict[str, str]) -> str:
        """The message as the command line shows it: the flag in place of the argument, and of every ``{arg:NAME}``."""
        return self.with_flag(flags.get(self.argument, self.argument), flags)
