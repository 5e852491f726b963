"""Integer probability tables: the only form in which probabilities reach the entropy coder."""

from __future__ import annotations

import numpy as np

PMF_PRECISION_BITS = 16
LIKELIHOOD_FLOOR = 1e-9


def quantize_pmf(pmf: np.ndarray, precision_bits: int = PMF_PRECISION_BITS) -> np.ndarray:
    """Integer counts summing to ``2**precision_bits``, every symbol at least 1 (so any clamped symbol is codable)."""
    total = 1 << precision_bits
    pmf = np.clip(np.asarray(pmf, dtype=np.float64), 0.0, None)
    counts = np.round(pmf / pmf.sum() * (total - pmf.size)).astype(np.int64) + 1
    counts[int(np.argmax(counts))] += total - int(counts.sum())
    return counts
