"""The one adapter between tngvideo and ``constriction``: integer pmf tables in, bytes out.

Symbols are coded with constriction's ANS stack coder (32-bit words, serialised little-endian)
and ``Categorical(perfect=False)`` models built from the *integer* tables of
:class:`PmfTable`. Every symbol belongs to a group (a scale index, a channel ...) whose pmf codes
it; groups are coded one after another, each as one vectorised call, so no per-symbol Python loop
runs. A symbol the pmf cannot represent (at or beyond its group's support edge) is escape-coded
after the group symbols, so every integer round-trips exactly: a badly predicted latent costs
bits, never quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import constriction
import numpy as np

from tngvideo.entropy.pmf import PMF_PRECISION_BITS
from tngvideo.errors import BitstreamError

CODER_ID = 2  # what this build writes: constriction AnsCoder, Categorical over 16-bit integer pmfs, escapes
CLAMPING_CODER_ID = 1  # older files: same coder, but the encoder clamped symbols into the support (read only)
READABLE_CODER_IDS = (CLAMPING_CODER_ID, CODER_ID)
CODER_NAME = f"constriction-ans-categorical-{PMF_PRECISION_BITS}bit-escape"
# An escaped magnitude v >= 0 is coded as e = floor(log2(v + 1)) (uniform over ESCAPE_EXPONENTS values)
# and then v + 1 - 2**e (uniform over 2**e values): Elias-gamma in an ANS stream.
ESCAPE_EXPONENTS = 24
_EXPONENT_MODEL = constriction.stream.model.Uniform(ESCAPE_EXPONENTS)
_UNIFORM = constriction.stream.model.Uniform()  # size given per symbol: 2**e for the mantissas


@dataclass(frozen=True)
class PmfTable:
    """Integer pmfs for ``G`` groups: row ``g`` covers symbols ``-supports[g]..supports[g]``."""

    pmfs: np.ndarray  # (G, width) int64, zero-padded
    supports: np.ndarray  # (G,) int64

    def packed(self) -> np.ndarray:
        """The rows without their zero padding, one after another (how weight files store them)."""
        return np.concatenate([self.pmfs[group, : 2 * int(support) + 1] for group, support in enumerate(self.supports)])

    @classmethod
    def from_packed(cls, values: np.ndarray, supports: np.ndarray) -> PmfTable:
        """Inverse of :meth:`packed`."""
        widths = 2 * supports.astype(np.int64) + 1
        if values.shape != (int(widths.sum()),):
            raise ValueError(f"{values.shape[0]} packed pmf values do not fill rows of widths summing to {widths.sum()}")
        pmfs = np.zeros((len(widths), int(widths.max())), dtype=np.int64)
        for group, row in enumerate(np.split(values, np.cumsum(widths)[:-1])):
            pmfs[group, : len(row)] = row
        return cls(pmfs, supports.astype(np.int64))

    def _model(self, group: int) -> constriction.stream.model.Categorical:
        width = 2 * int(self.supports[group]) + 1
        probabilities = self.pmfs[group, :width].astype(np.float64) / float(1 << PMF_PRECISION_BITS)
        return constriction.stream.model.Categorical(probabilities, perfect=False)


def _escape_exponents(magnitudes: np.ndarray) -> np.ndarray:
    """floor(log2(v + 1)) exactly (frexp of an integer below 2**53 is exact)."""
    return np.frexp((magnitudes + 1).astype(np.float64))[1].astype(np.int64) - 1


@dataclass(frozen=True)
class SymbolBatch:
    """Symbols to code together, each with the pmf of its group: one section of a latent tensor."""

    symbols: np.ndarray  # flat int64
    groups: np.ndarray  # flat int64, same length
    table: PmfTable


class SymbolWriter:
    """Symbol batches in decoding order, serialised as one stream for all (``stream``: .tngv frames from format
    version 5 on) or one stream per batch (``sections``: .tng pictures and older .tngv frames). Each stream
    costs ~4.7 bytes over its symbols' information (the coder's final state), so one stream per frame
    saves that per section."""

    def __init__(self) -> None:
        self.batches: list[SymbolBatch] = []

    def add(self, symbols: np.ndarray, groups: np.ndarray, table: PmfTable) -> None:
        """Append a batch; a symbol at or beyond its group's support edge is escape-coded (see module docstring)."""
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        groups = np.asarray(groups, dtype=np.int64).ravel()
        excess = np.abs(symbols) - table.supports[groups]
        if excess.size and _escape_exponents(np.maximum(excess, 0)).max() >= ESCAPE_EXPONENTS:
            raise ValueError(f"symbol magnitude {int(excess.max())} beyond the escape code's range")
        self.batches.append(SymbolBatch(symbols, groups, table))

    def stream(self) -> bytes:
        """Every batch in one ANS stream."""
        coder = constriction.stream.stack.AnsCoder()
        for batch in reversed(self.batches):  # a stack: push in reverse of the decoding order
            _push(coder, batch)
        return coder.get_compressed().astype("<u4").tobytes()

    def sections(self) -> list[bytes]:
        """One ANS stream per batch."""
        sections = []
        for batch in self.batches:
            coder = constriction.stream.stack.AnsCoder()
            _push(coder, batch)
            sections.append(coder.get_compressed().astype("<u4").tobytes())
        return sections


def _push(coder: constriction.stream.stack.AnsCoder, batch: SymbolBatch) -> None:
    """Push one batch so that it decodes as: groups in increasing order, the escapes' exponents, their mantissas."""
    symbols, groups, table = batch.symbols, batch.groups, batch.table
    supports = table.supports[groups]
    escaped = np.abs(symbols) >= supports
    excess = np.abs(symbols[escaped]) - supports[escaped]
    exponents = _escape_exponents(excess)
    edge_symbols = np.where(escaped, np.sign(symbols) * supports, symbols)
    wide = exponents > 0
    if np.any(wide):
        mantissas = excess[wide] + 1 - (1 << exponents[wide])
        coder.encode_reverse(mantissas.astype(np.int32), _UNIFORM, (1 << exponents[wide]).astype(np.int32))
    if exponents.size:
        coder.encode_reverse(exponents.astype(np.int32), _EXPONENT_MODEL)
    for group in np.unique(groups)[::-1]:
        members = edge_symbols[groups == group] + table.supports[group]
        coder.encode_reverse(members.astype(np.int32), table._model(int(group)))


class StreamReader:
    """Reads the batches of one stream (:meth:`SymbolWriter.stream`) in order; the decoder must know every
    symbol's group. ``coder_id`` is the file's: CLAMPING_CODER_ID streams have no escapes."""

    def __init__(self, data: bytes, coder_id: int = CODER_ID):
        if len(data) % 4:
            raise BitstreamError("entropy-coded section is not a whole number of 32-bit words")
        self.coder_id = coder_id
        try:
            self._coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
        except (ValueError, RuntimeError) as exc:
            raise BitstreamError(f"entropy decoding failed: {exc}") from exc

    def read(self, groups: np.ndarray, table: PmfTable) -> np.ndarray:
        """The next batch's symbols."""
        groups = np.asarray(groups, dtype=np.int64).ravel()
        if groups.size and (groups.min() < 0 or groups.max() >= len(table.supports)):
            raise BitstreamError("entropy-model index out of range")
        try:
            symbols = np.empty(groups.size, dtype=np.int64)
            for group in np.unique(groups):
                mask = groups == group
                decoded = self._coder.decode(table._model(int(group)), int(mask.sum()))
                symbols[mask] = decoded.astype(np.int64) - table.supports[group]
            if self.coder_id != CLAMPING_CODER_ID:
                _decode_escapes(self._coder, symbols, table.supports[groups])
        except (ValueError, RuntimeError, KeyError, AssertionError) as exc:
            raise BitstreamError(f"entropy decoding failed: {exc}") from exc
        return symbols

    def finish(self) -> None:
        """BitstreamError if the stream holds more than the batches read."""
        if not self._coder.is_empty():
            raise BitstreamError("entropy-coded section has data left over: corrupt or not for this model")


class SectionReader:
    """Reads one batch from each section in turn (:meth:`SymbolWriter.sections`); same interface as
    :class:`StreamReader`."""

    def __init__(self, sections: Sequence[bytes], coder_id: int = CODER_ID):
        self._sections = iter(sections)
        self.coder_id = coder_id

    def read(self, groups: np.ndarray, table: PmfTable) -> np.ndarray:
        section = next(self._sections, None)
        if section is None:
            raise BitstreamError("fewer entropy-coded sections than the model codes")
        reader = StreamReader(section, self.coder_id)
        symbols = reader.read(groups, table)
        reader.finish()
        return symbols

    def finish(self) -> None:
        if next(self._sections, None) is not None:
            raise BitstreamError("more entropy-coded sections than the model codes")


SymbolReader = StreamReader | SectionReader


def encode_symbols(symbols: np.ndarray, groups: np.ndarray, table: PmfTable) -> bytes:
    """One batch as one stream (see :class:`SymbolWriter`)."""
    writer = SymbolWriter()
    writer.add(symbols, groups, table)
    return writer.stream()


def decode_symbols(data: bytes, groups: np.ndarray, table: PmfTable, coder_id: int = CODER_ID) -> np.ndarray:
    """Inverse of :func:`encode_symbols`."""
    reader = StreamReader(data, coder_id)
    symbols = reader.read(groups, table)
    reader.finish()
    return symbols


def _decode_escapes(coder: constriction.stream.stack.AnsCoder, symbols: np.ndarray, supports: np.ndarray) -> None:
    """Add the escaped excess magnitudes to the edge symbols of ``symbols`` (in place)."""
    escaped = np.flatnonzero(np.abs(symbols) >= supports)
    if not escaped.size:
        return
    exponents = coder.decode(_EXPONENT_MODEL, escaped.size).astype(np.int64)
    excess = (1 << exponents) - 1
    wide = exponents > 0
    if np.any(wide):
        excess[wide] += coder.decode(_UNIFORM, (1 << exponents[wide]).astype(np.int32)).astype(np.int64)
    symbols[escaped] += np.sign(symbols[escaped]) * excess

