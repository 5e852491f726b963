"""Tiled reconstruction: the tiles cover the picture once, seams do not show, and the output does not
depend on how many threads or workers computed it."""

from __future__ import annotations

import dataclasses
import inspect
import itertools

import numpy as np
import pytest
import torch
from tiny_model import tiny_loaded
from torch import nn

from tngvideo.bitstream import FORMAT_VERSION, VIDEO_FORMAT_VERSION, reconstruction_of
from tngvideo.codecs.image_codec import ImageCodec
from tngvideo.codecs.inter_codec import InterCodec
from tngvideo.codecs.tiling import TILES, WHOLE_PICTURE, Reconstruction, ScaledInput
from tngvideo.layers import Float32ConvTranspose2d, synthesis_transform
from tngvideo.tng_image import decode_image, encode_image

SMALL_TILES = Reconstruction("test tiles", tile=4, margin=2, onednn=True)


@pytest.mark.parametrize("length", [1, 4, 5, 31, 32, 33, 64, 100])
def test_spans_cover_an_axis_once_and_read_within_it(length: int) -> None:
    spans = TILES.spans(length)
    assert spans[0].start == 0 and spans[-1].stop == length
    assert all(a.stop == b.start for a, b in itertools.pairwise(spans))
    assert all(s.stop - s.start <= 32 for s in spans)
    assert all(0 <= s.read_start <= s.start < s.stop <= s.read_stop <= length for s in spans)
    assert all(s.start - s.read_start == min(s.start, TILES.margin) for s in spans)


def test_a_picture_within_one_tile_is_still_cut_in_two_along_its_longer_side() -> None:
    assert len(TILES.tiles(20, 24)) == 2 and len(TILES.tiles(24, 20)) == 2
    assert {column.stop for _, column in TILES.tiles(20, 24)} == {12, 24}
    assert len(TILES.tiles(4, 4)) == 1  # too small to be worth two tiles
    assert len(TILES.tiles(68, 120)) == 3 * 4  # 1080p
    assert len(WHOLE_PICTURE.tiles(68, 120)) == 1


def _local_network() -> nn.Module:
    """3x3 convolutions before and after a 16x upsampling: a receptive field of 1 latent and 1 pixel,
    inside SMALL_TILES' margin of 2 latents."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=16, mode="nearest"),
                         nn.Conv2d(8, 3, 3, padding=1))


def test_tiles_with_a_margin_over_the_receptive_field_equal_the_whole_transform() -> None:
    network = _local_network()
    latents = torch.randn(1, 4, 10, 13)
    with WHOLE_PICTURE.inference():
        whole = network(latents)
    with SMALL_TILES.inference():
        tiled = SMALL_TILES.run(network, [ScaledInput(latents, 1)], 16)
    assert len(SMALL_TILES.tiles(10, 13)) == 3 * 4
    assert tiled.shape == whole.shape
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)


def test_two_inputs_at_different_scales_are_cut_alike() -> None:
    def add_upsampled(latents: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(latents, scale_factor=16, mode="nearest") + pixels

    latents, pixels = torch.randn(1, 3, 6, 9), torch.randn(1, 3, 96, 144)
    with SMALL_TILES.inference():
        tiled = SMALL_TILES.run(add_upsampled, [ScaledInput(latents, 1), ScaledInput(pixels, 16)], 16)
    assert torch.equal(tiled, add_upsampled(latents, pixels))


def test_inputs_off_the_latent_grid_are_refused() -> None:
    with SMALL_TILES.inference(), pytest.raises(ValueError, match="latent grid"):
        SMALL_TILES.run(torch.neg, [ScaledInput(torch.zeros(1, 1, 6, 9), 1), ScaledInput(torch.zeros(1, 1, 96, 100), 16)], 1)


@pytest.mark.parametrize("rule", [SMALL_TILES, dataclasses.replace(SMALL_TILES, bfloat16=True)], ids=["float32", "bfloat16"])
def test_the_output_is_the_same_for_any_number_of_workers_and_threads(rule: Reconstruction) -> None:
    network = _local_network()
    latents = torch.randn(1, 4, 12, 9)
    outputs = []
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            with rule.inference():
                outputs += [rule.run(network, [ScaledInput(latents, 1)], 16, workers=w) for w in (None, 1, 3)]
    finally:
        torch.set_num_threads(previous)
    assert all(output.dtype == torch.float32 and torch.equal(outputs[0], output) for output in outputs)


def test_a_bfloat16_rule_keeps_a_synthesis_last_layer_in_float32() -> None:
    """Under the bfloat16 rule the hidden layers round to bfloat16, but the layer that makes pixels computes in
    float32 from its (bfloat16) input: its output is not rounded to 8 significant bits."""
    synthesis = synthesis_transform(8, 16, 3).eval()
    last = synthesis[-1]
    assert isinstance(last, Float32ConvTranspose2d)
    hidden = torch.randn(1, 16, 8, 8)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = last(hidden.bfloat16())
        plain = nn.ConvTranspose2d.forward(last, hidden.bfloat16())
    assert output.dtype == torch.float32 and plain.dtype == torch.bfloat16
    with torch.no_grad():
        torch.testing.assert_close(output, last(hidden.bfloat16().float()), rtol=0, atol=0)
    assert not torch.equal(output, plain.float())


def test_a_multi_tile_picture_decodes_with_1_2_and_4_threads_exactly_as_encoded() -> None:
    picture = np.random.default_rng(3).integers(0, 256, (130, 560, 3), dtype=np.uint8)  # 12x36 latents: 2 tiles
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        encoded = encode_image(picture, 5.0, tiny_loaded())
        reconstruction = encoded.reconstruction
        decoded = []
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            decoded.append(decode_image(encoded.data, tiny_loaded()))
    finally:
        torch.set_num_threads(previous)
    assert len(TILES.tiles(12, 36)) == 2
    assert all(np.array_equal(reconstruction, d) for d in decoded)


def test_every_tile_runs_without_autograd_whichever_thread_computes_it() -> None:
    """Grad mode is per thread: a worker that recorded the graph kept every activation (12 GB at 6000x4000)."""
    seen: list[bool] = []

    def record(latents: torch.Tensor) -> torch.Tensor:
        seen.append(torch.is_grad_enabled())
        return latents

    with SMALL_TILES.inference():
        SMALL_TILES.run(record, [ScaledInput(torch.zeros(1, 1, 8, 12), 1)], 1, workers=2)
    assert len(seen) == 2 * 3 and not any(seen)


def test_the_codecs_reconstruct_by_the_rule_of_the_version_they_write() -> None:
    """The codecs' default rule (``TILES_BF16``) and the rule a decoder derives from the version written are
    named in two places: they must agree (the round-trip tests check the encoders' by decoding their files)."""
    written = reconstruction_of(FORMAT_VERSION)
    assert reconstruction_of(VIDEO_FORMAT_VERSION) is written
    for method in (ImageCodec.encode_analysed, ImageCodec.decode, InterCodec.decode):
        defaults = [p.default for p in inspect.signature(method).parameters.values() if p.name == "reconstruction"]
        assert defaults == [written], method.__qualname__
