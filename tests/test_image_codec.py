"""Behaviour of the image codec on tiny random-init models: exactness, shapes, rate, robustness."""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable

import numpy as np
import pytest
import torch
from tiny_model import tiny_codec, tiny_loaded, tiny_model

from tngvideo.bitstream import FORMAT_VERSION, ImageHeader, ModelIdentity, pack_image, unpack_image
from tngvideo.codecs.image_codec import ANALYSIS_PAD_FADE_PIXELS, ImageCodec, pad_for_analysis
from tngvideo.codecs.image_model import ImageModel, SpatialContext
from tngvideo.codecs.tiling import LATENT_PIXELS, TILES, WHOLE_PICTURE, ScaledInput, bfloat16_convolutions
from tngvideo.entropy.coder import CODER_ID, SectionReader
from tngvideo.entropy.fixed_point import FixedPointNetwork, to_real
from tngvideo.errors import BitstreamError, InputError
from tngvideo.tng_image import LoadedImageCodec, decode_image, encode_image

_IMAGE_HEADER_BYTES = 28  # the .tng header before its CRC


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    smooth = np.stack([(xx * 3) % 256, (yy * 5) % 256, ((xx + yy) * 2) % 256], axis=-1)
    return np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("context", ["none", "checkerboard"])
@pytest.mark.parametrize("size", [(64, 64), (33, 47), (1, 1), (70, 130)])
def test_decode_of_encode_is_bit_exact(size: tuple[int, int], context: SpatialContext) -> None:
    loaded = tiny_loaded(context=context)
    picture = _picture(*size)
    encoded = encode_image(picture, 3.0, loaded)
    decoded = decode_image(encoded.data, loaded)
    assert decoded.shape == picture.shape
    assert np.array_equal(decoded, encoded.reconstruction)


def _encode_with_one_thread_decode_with_two(make_model: Callable[[], ImageModel]) -> tuple[np.ndarray, np.ndarray]:
    """(encoder's reconstruction, decoder's output) of one picture, each side with its own model, as on two machines."""
    identity = ModelIdentity(7, bytes(range(8)))
    picture = _picture(96, 128)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        encoded = encode_image(picture, 5.5, LoadedImageCodec(ImageCodec.from_model(make_model()), identity, "tiny"))
        reconstruction = encoded.reconstruction  # synthesised on first use: here, with one thread
        torch.set_num_threads(2)
        decoded = decode_image(encoded.data, LoadedImageCodec(ImageCodec.from_model(make_model()), identity, "tiny"))
    finally:
        torch.set_num_threads(threads)
    return reconstruction, decoded


@pytest.mark.parametrize("context", ["none", "checkerboard"])
def test_decode_with_two_threads_equals_encode_with_one(context: SpatialContext) -> None:
    reconstruction, decoded = _encode_with_one_thread_decode_with_two(lambda: tiny_model(context=context))
    assert np.array_equal(decoded, reconstruction)


def test_a_synthesis_with_residual_blocks_decodes_bit_exactly_with_another_thread_count() -> None:
    def grown_model() -> ImageModel:
        config = dataclasses.replace(tiny_model().config, synthesis_residual_blocks=True, synthesis_half_resolution_block=True)
        model = ImageModel(config)
        model.load_state_dict(tiny_model().state_dict(), strict=False)
        torch.manual_seed(0)
        with torch.no_grad():
            for block in (model.g_s[2], model.g_s[5], model.g_s[8]):  # "1r", "3r", "5r"
                block.second.weight.normal_(0.0, 0.1)
        return model

    reconstruction, decoded = _encode_with_one_thread_decode_with_two(grown_model)
    assert np.array_equal(decoded, reconstruction)


def test_fixed_point_entropy_parameters_are_thread_invariant_and_close_to_float() -> None:
    model = tiny_codec().model
    z = torch.randint(-6, 7, (1, 8, 3, 5)).double()
    network = FixedPointNetwork(model.latent.h_s)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = network(z)
        torch.set_num_threads(2)
        two = network(z)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    with torch.no_grad():
        reference = model.latent.h_s(z.float()).double()
    assert torch.allclose(to_real(one), reference, atol=1e-2)


def test_fractional_quality_codes_between_its_neighbours() -> None:
    loaded = tiny_loaded()
    picture = _picture(128, 128)
    sizes = [len(encode_image(picture, q, loaded).data) for q in (2.0, 2.5, 3.0)]
    assert sizes[0] <= sizes[1] <= sizes[2]
    assert sizes[0] < sizes[2]


def test_rejects_quality_outside_the_ladder() -> None:
    with pytest.raises(InputError):
        encode_image(_picture(16, 16), 0.5, tiny_loaded())


@pytest.fixture(scope="module")
def encoded_file() -> bytes:
    return encode_image(_picture(64, 96), 4.0, tiny_loaded()).data


@pytest.mark.parametrize("keep", [0, 3, 10, 30, -1])
def test_rejects_truncated_file(encoded_file: bytes, keep: int) -> None:
    with pytest.raises(BitstreamError):
        decode_image(encoded_file[:keep] if keep >= 0 else encoded_file[:-1], tiny_loaded())


def test_rejects_any_flipped_bit(encoded_file: bytes) -> None:
    rng = np.random.default_rng(1)
    for position in rng.choice(len(encoded_file) * 8, 40, replace=False):
        corrupt = bytearray(encoded_file)
        corrupt[position // 8] ^= 1 << (position % 8)
        with pytest.raises(BitstreamError):
            decode_image(bytes(corrupt), tiny_loaded())


def test_rejects_trailing_bytes(encoded_file: bytes) -> None:
    with pytest.raises(BitstreamError, match="unexpected bytes"):
        decode_image(encoded_file + b"\0", tiny_loaded())


def test_rejects_unknown_format_version(encoded_file: bytes) -> None:
    future = bytearray(encoded_file)
    future[4] = FORMAT_VERSION + 1
    with pytest.raises(BitstreamError, match="version"):
        decode_image(bytes(future), tiny_loaded())


def test_rejects_other_weights(encoded_file: bytes) -> None:
    other_hash = LoadedImageCodec(tiny_codec().__class__.from_model(tiny_codec(1).model), ModelIdentity(7, bytes(8)), "x")
    with pytest.raises(BitstreamError, match="hash"):
        decode_image(encoded_file, other_hash)
    with pytest.raises(BitstreamError, match="model id"):
        decode_image(encoded_file, tiny_loaded(model_id=8))


def test_header_records_size_quality_and_model(encoded_file: bytes) -> None:
    header, _ = unpack_image(encoded_file)
    assert (header.width, header.height, header.quality) == (96, 64, 4.0)
    assert header.model == tiny_loaded().identity


# Checkerboard context ----------------------------------------------------------------------------


def test_checkerboard_codes_two_sections_and_the_codec_agrees_with_the_model_estimate() -> None:
    """The fixed-point passes reproduce the float model's rounded latents and rate (up to table snapping)."""
    model = tiny_model(context="checkerboard")
    loaded = tiny_loaded(context="checkerboard")
    picture = _picture(64, 128)
    encoded = encode_image(picture, 4.0, loaded)
    _, payload = unpack_image(encoded.data)
    assert len(payload.latents) == 2 and all(payload.latents)
    x = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        out = model.eval()(x, torch.tensor([3.0]))
    estimate = -torch.log2(out.y_likelihoods).sum() - torch.log2(out.z_likelihoods).sum()
    assert abs(8 * payload.num_bytes / float(estimate) - 1) < 0.1
    # Same latents as the float model: nearly every pixel equal (ignoring the context gives ~40%).
    float_pixels = out.x_hat[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.mean(float_pixels == encoded.reconstruction) > 0.9


def test_checkerboard_context_changes_the_non_anchor_parameters_only() -> None:
    model = tiny_model(context="checkerboard").eval()
    plain = tiny_model(context="none").eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("latent.checkerboard.")})
    z_hat = torch.randint(-3, 4, (1, 8, 2, 2)).float()
    y = torch.randn(1, 12, 8, 8) * 5
    with torch.no_grad():
        with_context = torch.cat(model.latent.entropy_parameters(z_hat, y), 1)
        without = torch.cat(plain.latent.entropy_parameters(z_hat, y), 1)
    anchors = ((torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 == 0).expand_as(with_context)
    assert torch.equal(with_context[anchors], without[anchors])
    assert not torch.allclose(with_context[~anchors], without[~anchors])


def test_zero_initialised_context_starts_as_the_hyperprior_model() -> None:
    torch.manual_seed(3)
    model = ImageModel(dataclasses.replace(tiny_model().config, context="checkerboard")).eval()
    plain = ImageModel(tiny_model().config).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("latent.checkerboard.")})
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = model(x, torch.tensor([2.0])), plain(x, torch.tensor([2.0]))
    assert torch.equal(a.x_hat, b.x_hat) and torch.equal(a.y_likelihoods, b.y_likelihoods)


def test_latent_section_count_must_match_the_model() -> None:
    one_pass = encode_image(_picture(64, 64), 4.0, tiny_loaded())
    with pytest.raises(BitstreamError, match="latent sections"):
        decode_image(one_pass.data, tiny_loaded(context="checkerboard"))
    header, payload = unpack_image(encode_image(_picture(64, 64), 4.0, tiny_loaded(context="checkerboard")).data)
    shortened = pack_image(header, dataclasses.replace(payload, latents=payload.latents[:1]))
    with pytest.raises(BitstreamError, match="latent sections"):
        decode_image(shortened, tiny_loaded(context="checkerboard"))


def _as_version(data: bytes, version: int) -> bytes:
    """A .tng file's bytes relabelled as format ``version`` (its header's CRC updated)."""
    old = bytearray(data)
    old[4] = version
    old[_IMAGE_HEADER_BYTES : _IMAGE_HEADER_BYTES + 4] = zlib.crc32(old[:_IMAGE_HEADER_BYTES]).to_bytes(4, "little")
    return bytes(old)


def test_files_are_written_as_version_5_and_older_versions_reconstruct_by_their_own_rules() -> None:
    """Versions 4 and 5 reconstruct in bfloat16 tiles; a version 3 file of the same payload decodes in float32
    tiles, a version 1 or 2 file as those builds did, the whole picture at once (oneDNN off). (192×640 is a multiple
    of 64: every version pads it alike.)"""
    loaded = tiny_loaded()
    encoded = encode_image(_picture(192, 640), 4.0, loaded)  # 12x40 latents: two tiles
    assert encoded.data[4] == FORMAT_VERSION == 5
    _, payload = unpack_image(encoded.data)
    model = loaded.codec.model
    latents = model.latent.dequantize(model.latent.read(SectionReader([payload.hyper, *payload.latents]), 12, 40), loaded.codec.level(4.0))

    def as_picture(x_hat: torch.Tensor) -> np.ndarray:
        return x_hat[0, :, :192, :640].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    with WHOLE_PICTURE.inference():
        whole = as_picture(model.g_s(latents))
    with TILES.inference():
        float32_tiles = as_picture(TILES.run(model.g_s, [ScaledInput(latents, 1)], LATENT_PIXELS))
    for version, expected in ((1, whole), (2, whole), (3, float32_tiles), (4, encoded.reconstruction)):
        assert np.array_equal(decode_image(_as_version(encoded.data, version), loaded), expected)
    if bfloat16_convolutions():  # else version 4 runs its convolutions in float32, as version 3
        assert not np.array_equal(float32_tiles, encoded.reconstruction)
        assert np.abs(float32_tiles.astype(int) - encoded.reconstruction).max() <= 2  # rounding noise, no more


def test_fixed_point_overflow_is_an_error_not_a_wrong_parameter() -> None:
    layer = torch.nn.Conv2d(2, 1, 3, padding=1)
    with torch.no_grad():
        layer.weight.fill_(1000.0)
    network = FixedPointNetwork(torch.nn.Sequential(layer))
    assert torch.isfinite(network(torch.ones(1, 2, 4, 4))).all()
    with pytest.raises(BitstreamError, match="overflow"):
        network(torch.full((1, 2, 4, 4), 2.0**24))


def test_cheap_overflow_bound_falls_back_to_the_exact_check() -> None:
    """One large input seen by 9 unit taps: the cheap bound (9x) fails, the exact check (1x) passes."""
    layer = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    network = FixedPointNetwork(torch.nn.Sequential(layer))
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 2.0**27  # 2^27 * 2^10 (activation) * 2^14 (weight) = 2^51 < 2^52 per output
    out = to_real(network(x))
    assert torch.equal(out, torch.nn.functional.conv2d(x.double(), torch.ones(1, 1, 3, 3, dtype=torch.float64), padding=1))
    x[0, 0, 2, 2] = 2.0**29
    with pytest.raises(BitstreamError, match="overflow"):
        network(x)


# Escapes -----------------------------------------------------------------------------------------


def test_latents_far_outside_the_tables_are_coded_exactly_not_clipped() -> None:
    """Latents (and hyper-latents) far beyond every table's support: the codec must still match the float model."""
    model = tiny_model()
    with torch.no_grad():  # a 10^4 finer quantizer than the level was trained for, same reconstruction scale
        model.latent.gains.log_gain.add_(math.log(1e4))
        model.latent.gains.log_inverse_gain.sub_(math.log(1e4))
    codec = ImageCodec.from_model(model)
    picture = _picture(64, 64)
    encoded = codec.encode(picture, 2.0)
    x = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        y = model.g_a(x) * model.latent.gains(torch.tensor([1.0]))[0]
        float_pixels = model.eval()(x, torch.tensor([1.0])).x_hat[0].clamp(0, 1).mul(255).round().to(torch.uint8)
    assert float(y.abs().max()) > 1000  # far beyond the largest table support
    assert np.mean(float_pixels.permute(1, 2, 0).numpy() == encoded.reconstruction) > 0.9
    np.testing.assert_array_equal(codec.decode(encoded.payload, 64, 64, 2.0), encoded.reconstruction)


def test_an_unknown_entropy_coder_id_is_a_clear_error(encoded_file: bytes) -> None:
    header, payload = unpack_image(encoded_file)
    with pytest.raises(BitstreamError, match="unknown entropy coder id 9"):
        decode_image(pack_image(dataclasses.replace(header, coder_id=9), payload), tiny_loaded())


def test_the_analysis_padding_keeps_the_picture_and_fades_from_its_edge_to_its_mean_colour() -> None:
    x = torch.rand(1, 3, 40, 50)
    padded = pad_for_analysis(x, 64)
    assert padded.shape == (1, 3, 64, 64)
    torch.testing.assert_close(padded[:, :, :40, :50], x, rtol=0, atol=0)
    mean, fade = x.mean(dim=(2, 3)), math.exp(-1 / ANALYSIS_PAD_FADE_PIXELS)
    torch.testing.assert_close(padded[:, :, 40, 7], mean + (x[:, :, 39, 7] - mean) * fade)  # first row past the edge
    torch.testing.assert_close(padded[:, :, 12, 50], mean + (x[:, :, 12, 49] - mean) * fade)  # first column
    far = math.exp(-24 / ANALYSIS_PAD_FADE_PIXELS)  # the corner: 24 rows (and 14 columns) past the picture
    torch.testing.assert_close(padded[:, :, 63, 63], mean + (x[:, :, 39, 49] - mean) * far)
    assert torch.equal(pad_for_analysis(x[:, :, :32, :32], 32), x[:, :, :32, :32])  # nothing to pad


def test_version_5_pads_pictures_to_16_pixels_and_version_4_files_still_decode() -> None:
    """A 33×47 picture is padded to 48×48 in version 5 (3×3 latents; the hyper-latents cover them padded to 4×4)
    and to 64×64 in version 4 (4×4 latents, those wholly in the padding coded too): version 5's file is smaller, and a
    version-4 file decodes by its own padding."""
    loaded = tiny_loaded(context="checkerboard")
    picture = _picture(33, 47)
    current = encode_image(picture, 5.0, loaded)
    codec = loaded.codec
    padded_to_64 = codec.encode_analysed(codec.analyse(picture, multiple=64), 5.0)
    header = ImageHeader(CODER_ID, loaded.identity, 47, 33, 5.0)
    old = _as_version(pack_image(header, padded_to_64.payload), 4)
    assert len(current.data) < len(old)
    assert np.array_equal(decode_image(current.data, loaded), current.reconstruction)
    assert np.array_equal(decode_image(old, loaded), padded_to_64.reconstruction)
    assert not np.array_equal(current.reconstruction, padded_to_64.reconstruction)
