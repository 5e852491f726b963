"""Step-size schedules shared by training (the learning rate) and the encoder's searches (the motion vectors' step):
one formula, so the two cannot drift apart."""

from __future__ import annotations

import math


def cosine_decay(start: float, end: float, progress: float) -> float:
    """From ``start`` (progress 0) to ``end`` (progress 1) along a half cosine: large moves first, then settling."""
    return end + (start - end) * (0.5 * (1 + math.cos(math.pi * progress)))
