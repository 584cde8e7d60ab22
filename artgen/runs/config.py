"""The base of every settings dataclass that a run folder's ``config.json`` stores,
and the one validating path every stored section is read through."""

from __future__ import annotations

import dataclasses
import logging
import math
import types
import typing
from collections.abc import Mapping

log = logging.getLogger("artgen")


class Settings:
    """Mixin for dataclasses: ``to_dict`` for ``config.json`` and ``from_dict`` back.

    ``from_dict`` ignores keys the class does not know (a run written by another
    artgen version); :func:`load_settings` is the checked form used on files.
    Subclasses check their values in ``__post_init__`` (raising a
    :class:`~artgen.errors.UsageError` that names the field), so an invalid
    settings object cannot be built, by a caller, from a file, or by
    ``dataclasses.replace``.
    """

    def to_dict(self) -> dict:
        """Every field as plain JSON-ready values (``dataclasses.asdict``)."""
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        """The names of the fields (what a config section may hold)."""
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, data: Mapping):
        """Build from a mapping, ignoring keys that are not fields (use ``RunDir.load_settings`` to have them named).

        Raises:
            ArgumentError: a value out of range (from the class's ``__post_init__``).
            TypeError: a value of a type the field cannot take.
        """
        names = cls.field_names()
        return cls(**{k: v for k, v in data.items() if k in names})


def _type_problem(value, hint) -> str | None:
    """Why ``value`` does not fit the annotation ``hint`` (None when it fits or the hint is not checked)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if any(_type_problem(value, o) is None for o in options):
            return None
        names = " or ".join(_type_name(o) for o in options)
        return f"expected {names}, got {_describe(value)}"
    if hint is type(None):
        return None if value is None else f"expected null, got {_describe(value)}"
    if hint is bool:
        return None if isinstance(value, bool) else f"expected true or false, got {_describe(value)}"
    if hint is int:
        return (
            None
            if isinstance(value, int) and not isinstance(value, bool)
            else f"expected a whole number, got {_describe(value)}"
        )
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {_describe(value)}"
        return None if math.isfinite(value) else f"expected a finite number, got {value}"
    if hint is str:
        return None if isinstance(value, str) else f"expected a string, got {_describe(value)}"
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return f"expected a list, got {_describe(value)}"
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if len(args) >= 1:
            for i, item in enumerate(value):
                problem = _type_problem(
                    item, args[0] if origin is not tuple or len(args) == 1 else args[min(i, len(args) - 1)]
                )
                if problem:
                    return f"item {i}: {problem}"
        return None
    if origin is dict or hint is dict:
        return None if isinstance(value, Mapping) else f"expected an object, got {_describe(value)}"
    return None  # Any, tensors, custom types: left to the class


def _type_name(hint) -> str:
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false", type(None): "null"}.get(
        hint, "a list" if typing.get_origin(hint) in (list, tuple) else str(hint)
    )


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def load_settings(cls, data, *, source: str, section: str):
    """Build the settings dataclass ``cls`` from the ``section`` object of a stored config.

    Every key is checked against the field's annotation (a string where a number
    belongs, a float where a whole number belongs, NaN, a list of the wrong items);
    keys the class does not know are named in one warning and ignored (a run written
    by another artgen version), for every head alike; the class's own checks
    (``__post_init__``: ranges, known names) run last.

    Raises:
        CheckpointError: one line naming ``source`` (the file), the section and the field.
    """
    from ..errors import ArtgenError, CheckpointError

    where = f"'{source}'"
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{where}: the '{section}' section must be an object, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    names = cls.field_names()
    unknown = sorted(set(data) - names)
    if unknown:
        log.warning(
            "%s: ignoring unknown %s setting(s) %s (written by another artgen version?)",
            where,
            section,
            ", ".join(map(repr, unknown)),
        )
    kwargs = {}
    for key in sorted(set(data) & names):
        problem = _type_problem(data[key], hints.get(key))
        if problem:
            raise CheckpointError(f"{where}: {section}.{key}: {problem}")
        kwargs[key] = data[key]
    try:
        return cls(**kwargs)
    except (ArtgenError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {section}: {exc}") from None


def check_fraction(argument: str, value: float) -> float:
    """``value`` as a float in [0, 1] (a blend strength, a probability).

    Raises:
        ArgumentError: outside [0, 1] or NaN, naming ``argument``.
    """
    from ..errors import ArgumentError

    value = float(value)
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ArgumentError(argument, f"must be between 0.0 and 1.0, got {value}")
    return value


def migrate_sections(cfg: Mapping, version: int, legacy: Mapping[int, Mapping[str, Mapping]]) -> dict:
    """A run's ``config.json`` (as read) brought to ``version``: the one migration path of every head.

    ``legacy[v]`` holds, per section, what a run saved at version ``v`` (``config_version``; a config
    without one is version 1) meant by a key it lacks: the defaults it was saved under. A config
    older than ``version`` gets, for each version from its own up, those values for the keys its
    sections lack; keys it holds are kept. Returns a new dict with ``config_version`` set.
    """
    cfg = dict(cfg)
    saved = cfg.get("config_version", 1)
    if not isinstance(saved, int) or isinstance(saved, bool) or saved < 1:
        saved = 1
    for v in sorted(legacy):
        if saved <= v < version:
            for section, values in legacy[v].items():
                stored = cfg.get(section)
                if isinstance(stored, Mapping):
                    cfg[section] = {**values, **stored}
    cfg["config_version"] = max(saved, version)
    return cfg
