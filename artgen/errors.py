"""Error types shared by every head.

The command line turns these into one-line messages and exit codes:
:class:`UsageError` exits 2 (a bad flag, value or missing input file given by the
user), any other :class:`ArtgenError` exits 1 (something failed at run time).
"""

from __future__ import annotations


class ArtgenError(Exception):
    """A runtime failure with a message fit to show a user as one line."""

    exit_code = 1


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
    library's words where the command has no such flag.
    """

    def __init__(self, argument: str, detail: str):
        self.argument = argument
        self.detail = detail
        super().__init__(f"{argument} {detail}")

    def with_flag(self, flag: str) -> str:
        """The message with ``flag`` (e.g. ``--batch-size``) in place of the argument name."""
        return f"{flag} {self.detail}"
