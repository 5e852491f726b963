"""The one adapter between tngvideo and ``constriction``: integer pmf tables in, bytes out.

Symbols are coded with constriction's ANS stack coder (32-bit words, serialised little-endian)
and ``Categorical(perfect=False)`` models built from the *integer* tables of
:class:`PmfTable`. Every symbol belongs to a group (a scale index, a channel ...) whose pmf codes
it; groups are coded one after another, each as one vectorised call, so no per-symbol Python loop
runs. Symbols outside their group's support are clamped by the caller's ``clamp`` step (the
tables' support is the escape mechanism).
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np

from tngvideo.entropy.pmf import PMF_PRECISION_BITS
from tngvideo.errors import BitstreamError

CODER_ID = 1  # constriction AnsCoder, Categorical(perfect=False) over 16-bit integer pmfs
CODER_NAME = f"constriction-ans-categorical-{PMF_PRECISION_BITS}bit"


@dataclass(frozen=True)
class PmfTable:
    """Integer pmfs for ``G`` groups: row ``g`` covers symbols ``-supports[g]..supports[g]``."""

    pmfs: np.ndarray  # (G, width) int64, zero-padded
    supports: np.ndarray  # (G,) int64

    def clamp(self, symbols: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Symbols clipped into their group's support (what the coder can represent)."""
        limit = self.supports[groups]
        return np.clip(symbols, -limit, limit)

    def _model(self, group: int) -> constriction.stream.model.Categorical:
        width = 2 * int(self.supports[group]) + 1
        probabilities = self.pmfs[group, :width].astype(np.float64) / float(1 << PMF_PRECISION_BITS)
        return constriction.stream.model.Categorical(probabilities, perfect=False)


def encode_symbols(symbols: np.ndarray, groups: np.ndarray, table: PmfTable) -> bytes:
    """Entropy-code flat int ``symbols`` (already clamped), each with the pmf of its group."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    groups = np.asarray(groups, dtype=np.int64).ravel()
    if np.any(np.abs(symbols) > table.supports[groups]):
        raise ValueError("symbol outside its group's support: clamp with PmfTable.clamp first")
    coder = constriction.stream.stack.AnsCoder()
    # ANS is a stack: push groups in reverse so the decoder pops them in increasing order.
    for group in np.unique(groups)[::-1]:
        members = symbols[groups == group] + table.supports[group]
        coder.encode_reverse(members.astype(np.int32), table._model(int(group)))
    words = coder.get_compressed().astype("<u4")
    return words.tobytes()


def decode_symbols(data: bytes, groups: np.ndarray, table: PmfTable) -> np.ndarray:
    """Inverse of :func:`encode_symbols`; the decoder must know every symbol's group."""
    groups = np.asarray(groups, dtype=np.int64).ravel()
    if len(data) % 4:
        raise BitstreamError("entropy-coded section is not a whole number of 32-bit words")
    if groups.size and (groups.min() < 0 or groups.max() >= len(table.supports)):
        raise BitstreamError("entropy-model index out of range")
    words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        symbols = np.empty(groups.size, dtype=np.int64)
        for group in np.unique(groups):
            mask = groups == group
            decoded = coder.decode(table._model(int(group)), int(mask.sum()))
            symbols[mask] = decoded.astype(np.int64) - table.supports[group]
        clean_end = coder.is_empty()
    except (ValueError, RuntimeError, KeyError, AssertionError) as exc:
        raise BitstreamError(f"entropy decoding failed: {exc}") from exc
    if not clean_end:
        raise BitstreamError("entropy-coded section has data left over: corrupt or not for this model")
    return symbols
