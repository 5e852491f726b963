"""Random quality levels for variable-rate training, shared by the image and the P-frame tasks."""

from __future__ import annotations

import numpy as np
import torch


def sample_levels(rng: np.random.Generator, count: int, num_levels: int, exponent: float) -> torch.Tensor:
    """Random fractional quality levels ``(L-1)·u**exponent``, u uniform in [0, 1).

    An exponent below 1 trains the high rates more often (0.5: density grows linearly with the
    level), where the transforms, not the quantizer, cap the quality (NOTES.md, session 4).
    """
    return torch.from_numpy((num_levels - 1) * rng.uniform(0, 1, count) ** exponent).float()
