"""The constriction adapter: exact round trips, escapes for symbols the pmfs cannot represent."""

from __future__ import annotations

import constriction
import numpy as np
import pytest
import torch

from tngvideo.entropy.coder import (
    CLAMPING_CODER_ID,
    ESCAPE_EXPONENTS,
    PmfTable,
    SectionReader,
    StreamReader,
    SymbolWriter,
    decode_symbols,
    encode_symbols,
)
from tngvideo.entropy.factorized import FactorizedPrior
from tngvideo.entropy.gaussian import scale_pmf_tables, scale_table
from tngvideo.entropy.tables import PREFIX, HyperpriorTables
from tngvideo.errors import BitstreamError


@pytest.fixture(scope="module")
def table() -> PmfTable:
    return PmfTable(*scale_pmf_tables(scale_table()))


def test_symbols_round_trip_including_escapes_far_outside_the_support(table: PmfTable) -> None:
    rng = np.random.default_rng(0)
    groups = rng.integers(0, len(table.supports), 5000)
    symbols = np.round(rng.normal(0, 3, groups.size)).astype(np.int64)
    edge = int(table.supports[groups[0]])
    symbols[:8] = [edge, -edge, edge + 1, -edge - 1, edge + 1000, -(edge + 2**20), edge + 2**ESCAPE_EXPONENTS - 2, 0]
    groups[:8] = groups[0]
    data = encode_symbols(symbols, groups, table)
    np.testing.assert_array_equal(decode_symbols(data, groups, table), symbols)


def test_batches_round_trip_as_one_stream_or_as_sections_and_one_stream_is_smaller(table: PmfTable) -> None:
    """A frame's batches in one stream (.tngv 5) or one stream each (.tng): the same symbols, in order; one stream
    saves each extra stream's final state; a reader left with data, or out of sections, is an error."""
    rng = np.random.default_rng(1)
    batches = []
    for size in (300, 0, 5000, 1):  # an empty batch, and escapes in a middle one
        groups = rng.integers(0, len(table.supports), size)
        symbols = np.round(rng.normal(0, 3, size)).astype(np.int64)
        if size == 5000:
            symbols[:2] = [int(table.supports[groups[0]]) + 77, -(int(table.supports[groups[1]]) + 3)]
        batches.append((symbols, groups))
    writer = SymbolWriter()
    for symbols, groups in batches:
        writer.add(symbols, groups, table)
    stream, sections = writer.stream(), writer.sections()
    assert len(stream) < sum(len(section) for section in sections)
    for reader in (StreamReader(stream), SectionReader(sections)):
        for symbols, groups in batches:
            np.testing.assert_array_equal(reader.read(groups, table), symbols)
        reader.finish()
    short = StreamReader(stream)
    short.read(batches[0][1], table)
    with pytest.raises(BitstreamError, match="left over"):
        short.finish()
    with pytest.raises(BitstreamError, match="fewer entropy-coded sections"):
        SectionReader([]).read(batches[0][1], table)
    with pytest.raises(BitstreamError, match="more entropy-coded sections"):
        SectionReader([*sections, b""]).finish()


def test_escapes_cost_bits_not_accuracy(table: PmfTable) -> None:
    groups = np.zeros(100, dtype=np.int64)  # the smallest scale: support 16, nearly all mass on 0
    quiet = np.zeros(100, dtype=np.int64)
    loud = quiet.copy()
    loud[50] = 300
    assert len(encode_symbols(loud, groups, table)) > len(encode_symbols(quiet, groups, table))
    np.testing.assert_array_equal(decode_symbols(encode_symbols(loud, groups, table), groups, table), loud)


def test_a_magnitude_beyond_the_escape_range_is_refused(table: PmfTable) -> None:
    groups = np.zeros(1, dtype=np.int64)
    with pytest.raises(ValueError, match="escape"):
        encode_symbols(np.array([int(table.supports[0]) + 2**ESCAPE_EXPONENTS]), groups, table)


def test_clamping_coder_streams_of_older_files_read_edge_symbols_literally(table: PmfTable) -> None:
    """Coder id 1 (before escapes): the encoder clamped, so an edge symbol is just that value."""
    groups = np.array([0, 0, 5, 5], dtype=np.int64)
    symbols = np.array([int(table.supports[0]), 0, -int(table.supports[5]), 1])
    coder = constriction.stream.stack.AnsCoder()
    for group in (5, 0):
        coder.encode_reverse((symbols[groups == group] + table.supports[group]).astype(np.int32), table._model(group))
    data = coder.get_compressed().astype("<u4").tobytes()
    np.testing.assert_array_equal(decode_symbols(data, groups, table, CLAMPING_CODER_ID), symbols)


def test_weight_files_store_pmfs_packed_and_older_padded_tables_still_load() -> None:
    torch.manual_seed(0)
    tables = HyperpriorTables.build(FactorizedPrior(4))
    stored = tables.to_tensors()
    padded_size = tables.latent.pmfs.size
    assert stored[PREFIX + "latent_pmf_values"].numel() < padded_size / 5  # the padding was most of the table
    older = {k: v for k, v in stored.items() if "pmf_values" not in k}  # the layout of files up to tng-image-v7
    older |= {PREFIX + f"{kind}_pmfs": torch.from_numpy(getattr(tables, kind).pmfs.astype(np.int32)) for kind in ("hyper", "latent")}
    for tensors in (stored, older):
        loaded = HyperpriorTables.from_tensors(tensors)
        for kind in ("hyper", "latent"):
            np.testing.assert_array_equal(getattr(loaded, kind).pmfs, getattr(tables, kind).pmfs)
            np.testing.assert_array_equal(getattr(loaded, kind).supports, getattr(tables, kind).supports)
        np.testing.assert_array_equal(loaded.scale_thresholds, tables.scale_thresholds)
    with pytest.raises(ValueError, match="packed pmf values"):
        PmfTable.from_packed(tables.latent.packed()[:-1], tables.latent.supports)
