"""Encoder-side motion search: it finds motion the flow network missed, never ends worse than it started,
and its P-frames decode exactly like any others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import tiny_inter_model
from torch.nn import functional as F

from tngvideo.cli import EXIT_USAGE, main
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.codecs.flow import warp
from tngvideo.codecs.image_model import lambdas_of_levels
from tngvideo.codecs.inter_codec import InterCodec, Reference
from tngvideo.codecs.inter_model import BLOCK_VECTOR_UNITS, FLOW_SCALE, InterModel
from tngvideo.codecs.motion_search import DEFAULT_SEARCH_STEPS, search_motion
from tngvideo.entropy.coder import StreamReader


def _cost(model: InterModel, reference: torch.Tensor, x: torch.Tensor, features: torch.Tensor,
          correction: torch.Tensor, level: torch.Tensor) -> float:
    """The search's objective, written out again: motion bits per pixel + λ·255²·MSE of the prediction."""
    with torch.no_grad():
        coded = model.motion.latent(features, level)
        blocks = F.interpolate(coded.decoded[:, :2] / BLOCK_VECTOR_UNITS, size=x.shape[2:], mode="bilinear",
                               align_corners=False)
        mse = ((warp(reference, blocks + correction) - x) ** 2).mean()
        lam = lambdas_of_levels(level, model.config.frame.level_lambdas)[0]
        return float(coded.bits().sum() / (x.shape[2] * x.shape[3]) + lam * 255**2 * mse)


@pytest.fixture()
def shifted_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """(reference, current) 64x64 of blurred noise (texture that pins motion down in both directions): the
    current frame is the reference moved 3 pixels right."""
    noise = torch.rand(1, 3, 68, 84, generator=torch.Generator().manual_seed(3))
    base = F.avg_pool2d(noise, 5, stride=1)
    return base[:, :, :64, 8:72].contiguous(), base[:, :, :64, 5:69].contiguous()


def _zero_motion(model: InterModel, x: torch.Tensor) -> torch.Tensor:
    """Motion features with zero block vectors: a flow network that saw no motion."""
    with torch.no_grad():
        return model.motion.features(torch.zeros(1, 2, *x.shape[2:]))


def _correction(model: InterModel, features: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """The motion synthesis's correction for ``features``' decoded latents, which the search holds."""
    with torch.no_grad():
        return model.motion.synthesis(model.motion.latent(features, level).decoded) * FLOW_SCALE


def test_the_search_finds_a_shift_the_flow_missed_and_lowers_the_cost(shifted_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = tiny_inter_model().eval()
    reference, x = shifted_pair
    level = torch.tensor([5.0])
    features = _zero_motion(model, x)
    correction = _correction(model, features, level)
    searched = search_motion(model, reference, x, features, level, 30, 64, 64)
    # current(p) = reference(p - 3 px): the vectors (plus the synthesis's correction) move toward (-3, 0)
    motion = searched[:, :2] / BLOCK_VECTOR_UNITS + F.avg_pool2d(correction, 16)
    assert float(motion[:, 0].mean()) < -2.0 and float(motion[:, 1].abs().mean()) < 0.75
    torch.testing.assert_close(searched[:, 2:], features[:, 2:])  # the learned motion latents are left alone
    assert _cost(model, reference, x, searched, correction, level) < 0.8 * _cost(model, reference, x, features,
                                                                                 correction, level)


def test_a_search_of_the_default_length_reaches_a_shift_a_few_pixels_from_its_start() -> None:
    """6 pixels from the flow's proposal: the falling step travels there (a constant 0.15 px one did not move)."""
    noise = torch.rand(1, 3, 80, 96, generator=torch.Generator().manual_seed(3))
    base = F.avg_pool2d(noise, 9, stride=1)
    reference, x = base[:, :, :64, 12:76].contiguous(), base[:, :, :64, 6:70].contiguous()
    model = tiny_inter_model().eval()
    level = torch.tensor([5.0])
    features = _zero_motion(model, x)
    correction = _correction(model, features, level)
    searched = search_motion(model, reference, x, features, level, DEFAULT_SEARCH_STEPS, 64, 64)
    motion = searched[:, :2] / BLOCK_VECTOR_UNITS + F.avg_pool2d(correction, 16)
    assert float(motion[:, 0].mean()) < -5.0 and float(motion[:, 1].abs().mean()) < 0.75


def test_candidates_give_a_block_its_neighbours_vector_where_the_flow_missed(
        shifted_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """One block proposed 8 pixels off while its neighbours are right: one gradient step cannot bring it back,
    a candidate round does (and leaves the right blocks where they are)."""
    model = tiny_inter_model().eval()
    reference, x = shifted_pair
    level = torch.tensor([5.0])
    features = _zero_motion(model, x)
    features[:, 0] = -3.0 * BLOCK_VECTOR_UNITS  # the right motion...
    features[:, 0, 1, 2] = 5.0 * BLOCK_VECTOR_UNITS  # ...but for one block
    correction = _correction(model, features, level)

    def vectors(rounds: int) -> torch.Tensor:
        searched = search_motion(model, reference, x, features, level, 1, 64, 64, candidate_rounds=rounds)
        return searched[0, 0] / BLOCK_VECTOR_UNITS + F.avg_pool2d(correction, 16)[0, 0]

    assert float(vectors(0)[1, 2]) > 4.0
    with_candidates = vectors(1)
    assert abs(float(with_candidates[1, 2]) + 3.0) < 0.5
    assert float((with_candidates + 3.0).abs().max()) < 0.5


def test_candidates_include_the_reference_frames_own_vectors(shifted_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Every block proposed 8 pixels off, no neighbour right: the previous frame's decoded vectors bring them back."""
    model = tiny_inter_model().eval()
    reference, x = shifted_pair
    level = torch.tensor([5.0])
    features = _zero_motion(model, x)
    features[:, 0] = 5.0 * BLOCK_VECTOR_UNITS
    correction = F.avg_pool2d(_correction(model, features, level), 16)
    previous = torch.zeros(1, 2, 4, 4)
    previous[:, 0] = -3.0 - correction[:, 0]

    def vectors(previous_vectors: torch.Tensor | None) -> torch.Tensor:
        searched = search_motion(model, reference, x, features, level, 1, 64, 64, candidate_rounds=1,
                                 previous_vectors=previous_vectors)
        return searched[0, 0] / BLOCK_VECTOR_UNITS + correction[0, 0]

    assert float((vectors(None) + 3.0).abs().min()) > 2.0
    assert float((vectors(previous) + 3.0).abs().max()) < 0.5


def test_a_lower_distortion_weight_buys_less_prediction_with_fewer_bits(
        shifted_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The weight trades the prediction's distortion for the vectors' rate: nearly without it, the vectors do not
    follow the 3-pixel shift; with the default (1) they do."""
    model = tiny_inter_model().eval()
    reference, x = shifted_pair
    level = torch.tensor([5.0])
    features = _zero_motion(model, x)
    correction = _correction(model, features, level)

    def shift(weight: float) -> float:
        searched = search_motion(model, reference, x, features, level, 30, 64, 64, weight=weight)
        return float((searched[:, 0] / BLOCK_VECTOR_UNITS + F.avg_pool2d(correction, 16)[:, 0]).mean())

    assert shift(1.0) < -2.0 < -0.5 < shift(1e-4)


def test_the_search_never_returns_vectors_costlier_than_its_start(shifted_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """With a step far too large every move overshoots; the search then keeps where it started."""
    model = tiny_inter_model().eval()
    reference, x = shifted_pair
    level = torch.tensor([5.0])
    features = _zero_motion(model, x)
    features[:, :2] = -3.0 * BLOCK_VECTOR_UNITS  # already the right motion
    correction = _correction(model, features, level)
    start = _cost(model, reference, x, features, correction, level)
    for steps in (1, 3):
        for rounds in (0, 2):
            searched = search_motion(model, reference, x, features, level, steps, 64, 64, candidate_rounds=rounds)
            assert _cost(model, reference, x, searched, correction, level) <= start
    assert search_motion(model, reference, x, features, level, 0, 64, 64) is features


def test_searched_p_frames_decode_exactly_and_cost_fewer_bits_on_a_shift(shifted_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    codec = InterCodec(tiny_inter_model())
    reference_pixels, x = (t[0].permute(1, 2, 0).mul(255).round().byte().numpy() for t in shifted_pair)
    reference = Reference(reference_pixels)
    plain = codec.encode(reference, x, 6.0, EncoderSettings(motion_search_steps=0))
    searched = codec.encode(reference, x, 6.0, EncoderSettings(motion_search_steps=8))
    motion_batches = 1 + codec.passes[0]  # the motion latents' hyper section and passes come first
    assert searched.symbols.sections()[:motion_batches] != plain.symbols.sections()[:motion_batches]
    for encoded in (plain, searched):
        np.testing.assert_array_equal(codec.decode(reference, StreamReader(encoded.symbols.stream()), 6.0).picture,
                                      encoded.reconstruction)


def test_p_frames_searched_from_candidates_decode_exactly_and_pass_their_vectors_on(
        shifted_pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The encoder's reference keeps the frame's decoded block vectors for the next search's candidates; the
    decoder's does not need them, and its pictures equal the encoder's."""
    codec = InterCodec(tiny_inter_model())
    reference_pixels, x = (t[0].permute(1, 2, 0).mul(255).round().byte().numpy() for t in shifted_pair)
    reference = Reference(reference_pixels)
    settings = EncoderSettings(motion_search_steps=4, motion_candidates=1)
    first = codec.encode(reference, x, 6.0, settings)
    assert reference.block_vectors is None and first.next_reference.block_vectors is not None
    assert first.next_reference.block_vectors.shape == (1, 2, 4, 4)
    second = codec.encode(first.next_reference, x, 6.0, settings)
    decoded = codec.decode(reference, StreamReader(first.symbols.stream()), 6.0)
    assert decoded.block_vectors is None
    np.testing.assert_array_equal(decoded.picture, first.reconstruction)
    np.testing.assert_array_equal(codec.decode(decoded, StreamReader(second.symbols.stream()), 6.0).picture,
                                  second.reconstruction)


def test_a_negative_motion_search_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "missing.mp4"
    assert main(["encode", str(source), str(tmp_path / "o.tngv"), "--motion-search", "-1"]) == EXIT_USAGE
    assert "--motion-search must be at least 0" in capsys.readouterr().err
    assert not (tmp_path / "o.tngv").exists()


def test_coarser_vector_steps_code_the_block_vectors_on_a_coarser_grid_only() -> None:
    model = tiny_inter_model().eval()
    level = torch.tensor([2.0])
    flow = torch.linspace(-3, 3, 2 * 64 * 64).reshape(1, 2, 64, 64)  # vectors of many sizes
    features = model.motion.features(flow)
    steps = model.motion.latent.gains(level)[1][0, :2, 0, 0]  # inverse gains: the vectors' step, in quarter pixels

    def rounding_error(coded: torch.Tensor) -> torch.Tensor:  # per vector channel, in units of the old step
        return ((coded[:, :2] - features[:, :2]).abs().amax((0, 2, 3)) / steps)

    with torch.no_grad():
        before = model.motion.latent(features, level).decoded
        model.motion.scale_vector_steps([4.0] * model.motion.latent.gains.num_levels)
        after = model.motion.latent(features, level).decoded
    assert torch.all(rounding_error(before) <= 0.5 + 1e-4)
    assert torch.all(rounding_error(after) <= 2.0 + 1e-4) and torch.all(rounding_error(after) > 0.5)
    assert torch.equal(after[:, 2:], before[:, 2:])  # the learned motion channels are untouched
    with pytest.raises(ValueError, match="one per level"):
        model.motion.scale_vector_steps([2.0])
