"""The base of every settings dataclass that a run folder's ``config.json`` stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


class Settings:
    """Mixin for dataclasses: ``to_dict`` for ``config.json`` and ``from_dict`` back.

    ``from_dict`` ignores keys the class does not know (a run written by another
    artgen version); a class that must refuse them overrides it.
    """

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, data: Mapping):
        names = cls.field_names()
        return cls(**{k: v for k, v in data.items() if k in names})
