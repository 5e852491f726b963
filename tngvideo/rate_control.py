"""Rate control: pick the (fractional) quality that fits a size budget, per picture or per frame.

The codec has no rate model to invert, so a budget is met by searching the quality with real
coding: the file size falls monotonically (in practice) as quality falls, and coding at a new
quality reuses the picture's analysis transform (``ImageCodec.analyse``), so a search costs a
few entropy-coding passes, not a few encodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from tngvideo.bitstream import float32_quality
from tngvideo.codecs.image_codec import AnalysedPicture, ImageCodec

SEARCH_STEPS = 7  # bisection steps: 1/128 of the quality range, ~0.07 of a level with 10 levels


def largest_quality_within(size_at: Callable[[float], int], budget: int, lowest: float, highest: float) -> tuple[float, bool]:
    """The highest quality in [lowest, highest] whose size is at most ``budget``, by bisection.

    Returns (quality, fits); ``fits`` is False when even ``lowest`` exceeds the budget (the
    caller codes at ``lowest`` and says so).
    """
    if size_at(float32_quality(highest)) <= budget:
        return float32_quality(highest), True
    if size_at(float32_quality(lowest)) > budget:
        return float32_quality(lowest), False
    low, high = lowest, highest  # size(low) fits, size(high) does not
    for _ in range(SEARCH_STEPS):
        middle = float32_quality((low + high) / 2)
        if size_at(middle) <= budget:
            low = middle
        else:
            high = middle
    return float32_quality(low), True


def quality_for_budget(codec: ImageCodec, picture: AnalysedPicture, max_payload_bytes: int,
                       one_stream: bool = False) -> tuple[float, bool]:
    """The highest quality at which ``picture``'s entropy-coded bytes take at most ``max_payload_bytes``
    (container overhead is the caller's; ``one_stream``: as a .tngv frame holds them, else as a .tng picture's
    sections); (1.0, False) when nothing fits."""
    size = partial(codec.payload_size, picture, one_stream=one_stream)
    return largest_quality_within(size, max_payload_bytes, 1.0, float(codec.num_levels))


@dataclass
class BitrateController:
    """Per-frame budgets that keep a stream's average at ``kilobits_per_second``.

    Each frame may spend the per-frame share plus what earlier frames saved (a reservoir of at
    most ``reservoir_seconds`` of bits, so a long easy stretch cannot fund one huge frame);
    overspending (down to the same limit) is paid back by the following frames.
    """

    kilobits_per_second: float
    frames_per_second: float
    reservoir_seconds: float = 1.0
    _reservoir_bits: float = 0.0

    def __post_init__(self) -> None:
        if not self.kilobits_per_second > 0 or not self.frames_per_second > 0:
            raise ValueError("bitrate and frame rate must be positive")

    @property
    def bits_per_frame(self) -> float:
        return 1000 * self.kilobits_per_second / self.frames_per_second

    def next_budget_bytes(self) -> int:
        """Bytes the next frame may use."""
        return max(1, int((self.bits_per_frame + self._reservoir_bits) // 8))

    def charge(self, num_bytes: int) -> None:
        """Account for bytes that belong to no frame (a container's header and trailer): the frames pay them back."""
        cap = 1000 * self.kilobits_per_second * self.reservoir_seconds
        self._reservoir_bits = float(np.clip(self._reservoir_bits - 8 * num_bytes, -cap, cap))

    def spent(self, num_bytes: int) -> None:
        """Account for a coded frame."""
        cap = 1000 * self.kilobits_per_second * self.reservoir_seconds
        self._reservoir_bits = float(np.clip(self._reservoir_bits + self.bits_per_frame - 8 * num_bytes, -cap, cap))
