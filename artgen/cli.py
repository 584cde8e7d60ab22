"""The ``artgen`` command line: parse, build a config, call the library. No training logic here.

Exit codes: 0 success, 1 runtime error, 2 usage error, 130 interrupted (checkpoint
saved). Errors print one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import ArtgenError
from .version import __version__

#: sub-command name -> the module that registers it (imported lazily), each head's ``cli`` module, as
#: ``"module"`` (its ``add_parser``) or ``"module:function"`` where one module registers two commands
COMMANDS = {
    "classify": "artgen.classifier.cli",
    "stylize": "artgen.style_transfer.cli",
    "gan": "artgen.gan.cli",
    "fast-style": "artgen.fast_style.cli",
    "demo": "artgen.demo.cli",
    "texture": "artgen.style_transfer.cli:add_texture_parser",
    "studio": "artgen.studio.cli",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message):  # pragma: no cover - exercised through the CLI tests
        self.print_usage(sys.stderr)
        self.exit(2, f"artgen: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``artgen`` parser with one sub-command per module in :data:`COMMANDS` that this build has."""
    parser = _Parser(prog="artgen", description="Make art with neural networks: classify, GANs and style transfer.")
    parser.add_argument("--version", action="version", version=f"artgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, spec in COMMANDS.items():
        module_name, _, register = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that head is not part of this build
            raise
        getattr(module, register or "add_parser")(sub, name)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``artgen`` with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    0 success; 2 usage error (:class:`~artgen.errors.UsageError`, or no sub-command);
    1 any other error, printed as one line on stderr (the traceback only with ``--debug``,
    which re-raises); 130 interrupted (Ctrl-C or SIGTERM). Argparse errors, ``--help`` and
    ``--version`` leave through ``SystemExit`` (2, 0, 0). Leaves the torchrun process group on the way out.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    debug = getattr(args, "debug", False)
    previous_sigterm = _interrupt_on_sigterm()
    logging.basicConfig(
        level=logging.INFO if not getattr(args, "quiet", False) else logging.WARNING, format="%(message)s"
    )
    try:
        result = args.func(args)
        return int(result or 0)
    except ArtgenError as exc:
        if debug:
            raise
        message = exc.for_cli(_flags(parser, args))
        print(f"artgen: error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        if debug:
            raise
        print(f"artgen: interrupted{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
        return 130
    except MemoryError:
        if debug:
            raise
        print("artgen: error: out of memory; try a smaller --size or --batch-size", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "out of memory" in message.lower():
            print(
                f"artgen: error: out of memory ({message}); try a smaller --size or --batch-size, or --precision bf16",
                file=sys.stderr,
            )
        else:
            print(
                f"artgen: error: {type(exc).__name__}: {message} (run with --debug for the traceback)", file=sys.stderr
            )
        return 1
    finally:
        from .distributed import shutdown

        shutdown()
        _restore_sigterm(previous_sigterm)


def _flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """``{dest: flag}`` of the sub-command that ran (``batch_size`` -> ``--batch-size``, ``n`` -> ``-n``)."""
    flags: dict[str, str] = {}
    current = parser
    while current is not None:
        subs = None
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                subs = action
            elif action.option_strings:
                flags[action.dest] = max(action.option_strings, key=len)
        current = subs.choices.get(getattr(args, subs.dest, None)) if subs is not None else None
    for argument, dest in getattr(args, "argument_flags", {}).items():  # library names that differ from the flag's
        if dest in flags:
            flags[argument] = flags[dest]
    return flags


def _interrupt_on_sigterm():
    """SIGTERM before (or after) training stops the command as Ctrl-C does: "interrupted", exit 130.

    During training the loop's own handler takes over both signals (checkpoint, then exit).
    Returns the previous handler (restored when :func:`main` returns), or None.
    """
    import signal
    import threading

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    if threading.current_thread() is threading.main_thread():
        try:
            return signal.signal(signal.SIGTERM, handler)
        except (ValueError, OSError):  # pragma: no cover
            pass
    return None


def _restore_sigterm(previous) -> None:
    import signal

    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except (ValueError, OSError):  # pragma: no cover
            pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
