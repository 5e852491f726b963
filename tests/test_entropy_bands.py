"""The entropy parameters are computed a band of latent rows at a time: exactly the whole grid's, so the
bitstream does not depend on the band size (and the memory does not grow with the picture's height)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.codecs import latent_codec
from tngvideo.codecs.latent_codec import CodedLatents, LatentCodec, LatentPayload, SpatialContext
from tngvideo.entropy.coder import SectionReader, SymbolWriter
from tngvideo.entropy.context import CheckerboardContext, FixedPointCheckerboard, anchor_mask
from tngvideo.entropy.fixed_point import ACTIVATION_BITS, WEIGHT_BITS, FixedPointNetwork, to_fixed
from tngvideo.layers import hyper_synthesis

HYPER, LATENT = 8, 12  # tiny channel counts
BAND_SIZES = (1, 3, 5, 16)  # 1 and 3 are below every margin; 5 and 16 do not divide the heights below


def _whole_grid(network: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Test-only reference: the fixed-point network on the whole tensor at once, each layer with its own padding."""
    for layer in network:
        if isinstance(layer, nn.ReLU):
            x = x.clamp_min(0.0)
            continue
        weight = torch.round(layer.weight.detach().double() * 2.0**WEIGHT_BITS)
        bias = torch.round(layer.bias.detach().double() * 2.0 ** (WEIGHT_BITS + ACTIVATION_BITS))
        if isinstance(layer, nn.ConvTranspose2d):
            x = F.conv_transpose2d(x, weight, bias, layer.stride, layer.padding, layer.output_padding)
        else:
            x = F.conv2d(x, weight, bias, layer.stride, layer.padding)
        x = torch.floor(x * 2.0**-WEIGHT_BITS)
    return x


def _bands(height: int, size: int) -> list[range]:
    return [range(start, min(start + size, height)) for start in range(0, height, size)]


def _checkerboard(seed: int = 0) -> CheckerboardContext:
    torch.manual_seed(seed)
    module = CheckerboardContext(LATENT)
    with torch.no_grad():  # its correction starts at zero: give the context a say
        for parameter in module.correction[-1].parameters():
            parameter.normal_(0.0, 0.3)
    return module


def _random_integers(shape: tuple[int, ...], seed: int, bound: int = 20) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(-bound, bound + 1, shape)).double()


def _rows_that_change(network: FixedPointNetwork, x: torch.Tensor, row: int) -> set[int]:
    """The output rows that change when input ``row`` does: the receptive field, measured."""
    changed = x.clone()
    changed[:, :, row] += to_fixed(_random_integers(changed[:, :, row].shape, seed=row, bound=50))
    difference = (network.run_fixed(changed) != network.run_fixed(x)).any(dim=3).any(dim=1)[0]
    return {int(r) for r in torch.nonzero(difference)}


# Receptive fields -------------------------------------------------------------------------------


def test_hyper_synthesis_reads_one_z_row_above_its_band_and_two_below() -> None:
    """Latent rows [4a, 4b) read z rows [a - 1, b + 2): the 3x3 convolution reads a latent row either side,
    the transposed convolutions (5 taps, stride 2, output padding 1) an odd output row from two inputs."""
    torch.manual_seed(0)
    network = FixedPointNetwork(hyper_synthesis(HYPER, 2 * LATENT))
    assert network.input_window(range(16, 32), 20) == range(3, 10)
    assert network.input_window(range(8), 20) == range(4)  # clipped at the picture's borders
    assert network.input_window(range(72, 80), 20) == range(17, 20)
    z = to_fixed(_random_integers((1, HYPER, 9, 4), seed=1))
    reads = {row: set(network.input_window(range(row, row + 1), 9)) for row in range(36)}
    for z_row in range(9):
        assert _rows_that_change(network, z, z_row) == {row for row, window in reads.items() if z_row in window}


def test_checkerboard_context_reads_two_latent_rows_either_side_and_its_correction_none() -> None:
    module = _checkerboard()
    assert FixedPointCheckerboard(module).anchor_window(range(10, 26), 40) == range(8, 28)
    assert FixedPointCheckerboard(module).anchor_window(range(16), 18) == range(18)
    correction = FixedPointNetwork(module.correction)
    assert correction.input_window(range(5, 9), 20) == range(5, 9)
    context = FixedPointNetwork(module.context)
    anchors = to_fixed(_random_integers((1, LATENT, 11, 6), seed=2))
    for row in range(11):
        assert _rows_that_change(context, anchors, row) == set(range(max(row - 2, 0), min(row + 3, 11)))


# Bands equal the whole grid ---------------------------------------------------------------------


@pytest.mark.parametrize("band_rows", BAND_SIZES)
@pytest.mark.parametrize("z_height", [1, 5, 7])
def test_hyper_parameters_of_bands_equal_the_whole_grids(band_rows: int, z_height: int) -> None:
    torch.manual_seed(3)
    layers = hyper_synthesis(HYPER, 2 * LATENT)
    network = FixedPointNetwork(layers)
    z = to_fixed(_random_integers((1, HYPER, z_height, 5), seed=z_height))
    whole = _whole_grid(layers, z)
    assert torch.equal(network.run_fixed(z), whole)
    for rows in _bands(4 * z_height, band_rows):
        window = network.input_window(rows, z_height)
        band = network.run_rows(z[:, :, window.start : window.stop], rows, z_height)
        assert torch.equal(band, whole[:, :, rows.start : rows.stop])


@pytest.mark.parametrize("band_rows", BAND_SIZES)
@pytest.mark.parametrize("height", [4, 21, 28])
def test_checkerboard_parameters_of_bands_equal_the_whole_grids(band_rows: int, height: int) -> None:
    module = _checkerboard(seed=height)
    parameters = to_fixed(_random_integers((1, 2 * LATENT, height, 7), seed=height))
    anchors = to_fixed(_random_integers((1, LATENT, height, 7), seed=height + 1)) * anchor_mask(height, 7)
    whole = parameters + _whole_grid(module.correction, torch.cat([parameters, _whole_grid(module.context, anchors)], 1))
    checkerboard = FixedPointCheckerboard(module)
    for rows in _bands(height, band_rows):
        window = checkerboard.anchor_window(rows, height)
        band = checkerboard(parameters[:, :, rows.start : rows.stop], anchors[:, :, window.start : window.stop],
                            rows, height)
        assert torch.equal(band, whole[:, :, rows.start : rows.stop])


def test_a_window_that_is_not_the_receptive_field_is_refused() -> None:
    network = FixedPointNetwork(hyper_synthesis(HYPER, 2 * LATENT))
    with pytest.raises(ValueError, match="input rows"):
        network.run_rows(torch.zeros(1, HYPER, 3, 4, dtype=torch.float64), range(16, 32), 20)


# The codec: same bytes, same latents, whatever the bands ----------------------------------------


def _tiny_latent_codec(context: SpatialContext) -> LatentCodec:
    torch.manual_seed(4)
    codec = LatentCodec(LATENT, HYPER, (0.01, 0.1), context)
    if codec.checkerboard is not None:
        with torch.no_grad():
            for parameter in codec.checkerboard.correction[-1].parameters():
                parameter.normal_(0.0, 0.3)
    codec.prepare_coding()
    return codec


def _compress(codec: LatentCodec, y: torch.Tensor) -> tuple[LatentPayload, CodedLatents]:
    with torch.no_grad():
        writer = SymbolWriter()
        coded = codec.write(y, writer)
        return LatentPayload.from_sections(writer.sections()), coded


@pytest.mark.parametrize("context", ["none", "checkerboard"])
def test_banded_coding_writes_the_bytes_of_one_band_and_decodes_them_whether_hyper_parameters_are_kept_or_not(context: SpatialContext,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    codec = _tiny_latent_codec(context)
    y = torch.randn(1, LATENT, 44, 12, generator=torch.Generator().manual_seed(5)) * 6.0  # 44 rows: several bands
    monkeypatch.setattr(latent_codec, "ENTROPY_BAND_ROWS", 10**6)
    reference_payload, reference = _compress(codec, y)
    for band_rows, kept_values in ((3, 10**9), (16, 10**9), (3, 0), (16, 0)):  # hyper parameters kept or recomputed
        monkeypatch.setattr(latent_codec, "ENTROPY_BAND_ROWS", band_rows)
        monkeypatch.setattr(latent_codec, "KEPT_HYPER_VALUES", kept_values)
        payload, coded = _compress(codec, y)
        assert payload == reference_payload
        decoded = codec.read(SectionReader([payload.hyper, *payload.latents]), 44, 12)
        for latents in (coded, decoded):
            np.testing.assert_array_equal(latents.symbols, reference.symbols)
            assert torch.equal(latents.means, reference.means)
    assert np.any(reference.symbols != 0) and reference_payload.num_bytes > 100  # something was coded


# Latent grids of any size (.tngv from format version 7: frames padded to 16 pixels) ----------------------


@pytest.mark.parametrize("context", ["none", "checkerboard"])
def test_a_latent_grid_of_any_size_codes_exactly_its_own_latents(context: SpatialContext) -> None:
    """A 9×11 grid, not a multiple of the hyper stride: the hyper-latents cover it padded to 12×12 (3×3 of them),
    the stream holds its 9×11 latents and no others, and the decoder reads them back."""
    codec = _tiny_latent_codec(context)
    y = torch.randn(1, LATENT, 9, 11, generator=torch.Generator().manual_seed(6)) * 6.0
    with torch.no_grad():
        writer = SymbolWriter()
        coded = codec.write(y, writer)
    hyper, *passes = writer.batches
    assert hyper.symbols.size == HYPER * 3 * 3 and sum(batch.symbols.size for batch in passes) == LATENT * 9 * 11
    assert coded.means.shape == (1, LATENT, 9, 11) and coded.symbols.size == LATENT * 9 * 11
    decoded = codec.read(SectionReader(writer.sections()), 9, 11)
    np.testing.assert_array_equal(decoded.symbols, coded.symbols)
    assert torch.equal(decoded.means, coded.means)
    assert (coded.values() - y).abs().max() <= 0.5 + 1e-5 and np.any(coded.symbols != 0)
