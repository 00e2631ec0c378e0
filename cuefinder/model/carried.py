"""Arrays a model file carries beside its network's weights: the genre regressions on the
sound embedding (``heard.Heard``) and the "sounds like" projection
(``likeness.Likeness``). Each is a frozen dataclass of float32 arrays, stored as one
tensor per field named ``PREFIX + field`` and read back the same way (numpy only)."""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar

import numpy as np


class Carried:
    """Writing and reading a dataclass of arrays as a model file's tensors."""

    PREFIX: ClassVar[str]  # the tensors' names in a model file start with it

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The arrays' names (after the prefix), in field order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def carried_by(cls, names) -> bool:
        """Whether a model file with tensors of these names carries this."""
        return any(str(name).startswith(cls.PREFIX) for name in names)

    def tensors(self) -> dict[str, np.ndarray]:
        """The arrays a model file stores, by name."""
        return {
            self.PREFIX + n: np.ascontiguousarray(getattr(self, n), np.float32)
            for n in self.names()
        }

    @classmethod
    def from_tensors(cls, tensors: dict):
        """From a model file's tensors (numpy or torch); None when it has none (KeyError
        when it has only some)."""
        if not cls.carried_by(tensors):
            return None
        return cls(**{n: np.asarray(tensors[cls.PREFIX + n], np.float32) for n in cls.names()})

    def mismatch(self, shapes: dict[str, tuple[int, ...]]) -> str | None:
        """The first array whose shape is not its entry in ``shapes``, or "values that are
        not finite" when some are; None when all fit."""
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                return f"{self.PREFIX}{name} is {getattr(self, name).shape}, expected {shape}"
        if not all(np.isfinite(getattr(self, n)).all() for n in self.names()):
            return "values that are not finite"
        return None
