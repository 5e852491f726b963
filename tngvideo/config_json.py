"""The one JSON form of tngvideo's config dataclasses (network architectures, training runs).

It is stored in weight files' metadata and in checkpoints, and compared as text, so every config
writes it the same way: :func:`dataclasses.asdict` with sorted keys.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar


class JsonConfig:
    """Mixin of a config dataclass: :meth:`to_json`. Reading back is each config's own ``from_json``
    (JSON has no tuples or nested dataclasses, and each config restores its own)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass on the subclass

    def to_json(self) -> str:
        """The config as JSON text with sorted keys: the form stored with weights and checkpoints."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)
