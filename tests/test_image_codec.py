"""Behaviour of the image codec on tiny random-init models: exactness, shapes, rate, robustness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_model import tiny_codec, tiny_loaded

from tngvideo.bitstream import FORMAT_VERSION, ModelIdentity, unpack_image
from tngvideo.entropy.fixed_point import FixedPointNetwork, to_real
from tngvideo.errors import BitstreamError, InputError
from tngvideo.tng_image import LoadedImageCodec, decode_image, encode_image


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    smooth = np.stack([(xx * 3) % 256, (yy * 5) % 256, ((xx + yy) * 2) % 256], axis=-1)
    return np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(64, 64), (33, 47), (1, 1), (70, 130)])
def test_decode_of_encode_is_bit_exact(size: tuple[int, int]) -> None:
    loaded = tiny_loaded()
    picture = _picture(*size)
    encoded = encode_image(picture, 3.0, loaded)
    decoded = decode_image(encoded.data, loaded)
    assert decoded.shape == picture.shape
    assert np.array_equal(decoded, encoded.reconstruction)


def test_decode_with_two_threads_equals_encode_with_one() -> None:
    loaded = tiny_loaded()
    picture = _picture(96, 128)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        encoded = encode_image(picture, 5.5, loaded)
        torch.set_num_threads(2)
        decoded = decode_image(encoded.data, tiny_loaded())
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(decoded, encoded.reconstruction)


def test_fixed_point_entropy_parameters_are_thread_invariant_and_close_to_float() -> None:
    model = tiny_codec().model
    z = torch.randint(-6, 7, (1, 8, 3, 5)).double()
    network = FixedPointNetwork(model.h_s)
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
        reference = model.h_s(z.float()).double()
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
