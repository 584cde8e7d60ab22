"""The flags and argparse helpers every ``artgen`` command shares (device, precision, seed; which flags were
typed). The commands import them from here; :mod:`artgen.cli` only builds the parser and runs a command."""

from __future__ import annotations

import argparse


def add_common(
    parser: argparse.ArgumentParser, *, precision: bool = True, precision_default: str = "fp32", seed_default: int = 0
) -> None:
    """Flags every head shares: device, precision (default ``precision_default``), seed (default ``seed_default``), quiet, debug."""
    group = parser.add_argument_group("common")
    group.add_argument(
        "--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default: auto)"
    )
    if precision:
        group.add_argument(
            "--precision",
            default=precision_default,
            choices=["fp32", "bf16", "fp16"],
            help=f"numeric precision via autocast (default: {precision_default})",
        )
    group.add_argument(
        "--seed",
        type=int,
        default=seed_default,
        help=f"random seed; the same seed on CPU gives the same result (default: {seed_default})",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    group.add_argument("--debug", action="store_true", help="show full tracebacks on errors")


def add_run_flags(parser: argparse.ArgumentParser, *, checkpoint_every: int) -> None:
    """Flags every trainer shares about its run folder: --resume, --overwrite, --checkpoint-every N (default ``checkpoint_every``)."""
    parser.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in --out exactly where it stopped"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=checkpoint_every,
        metavar="N",
        help=f"save a resumable checkpoint every N steps (default: {checkpoint_every})",
    )


def remember_defaults(parser: argparse.ArgumentParser) -> None:
    """Keep the defaults of ``parser``'s flags on the parsed arguments, for :func:`typed_flags`."""
    parser.set_defaults(
        flag_defaults={a.dest: a.default for a in parser._actions if a.option_strings and a.dest != "help"}
    )


def typed_flags(args: argparse.Namespace) -> set[str]:
    """The dests of the flags given a value other than their default (needs :func:`remember_defaults`).

    A ``--resume`` compares only these with the run's saved settings: an untouched default is not a request.
    """
    defaults = getattr(args, "flag_defaults", None) or {}
    return {dest for dest, default in defaults.items() if getattr(args, dest, default) != default}
