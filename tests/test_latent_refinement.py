"""Encoder-side latent refinement: files stay exact and decodable, the encoder stays deterministic,
and on real frames with the shipped weights it lowers the coded rate-distortion cost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_model import tiny_loaded

from tngvideo.cli import main
from tngvideo.codecs.image_model import lambdas_of_levels
from tngvideo.io.frames import open_video
from tngvideo.tng_image import EncodedImage, LoadedImageCodec, decode_image, encode_image, encode_image_within

Frames = Callable[..., list[np.ndarray]]


@pytest.fixture
def picture(smooth_frames: Frames) -> np.ndarray:
    return smooth_frames(48, 72, count=1)[0]


def test_refined_files_decode_bit_exactly(picture: np.ndarray) -> None:
    loaded = tiny_loaded(context="checkerboard")
    encoded = encode_image(picture, 4.0, loaded, refine_steps=5)
    assert np.array_equal(decode_image(encoded.data, loaded), encoded.reconstruction)


def test_zero_steps_is_the_plain_encoder(picture: np.ndarray) -> None:
    loaded = tiny_loaded()
    assert encode_image(picture, 4.0, loaded, refine_steps=0).data == encode_image(picture, 4.0, loaded).data


def test_refinement_changes_the_file_is_deterministic_and_leaves_no_trace(picture: np.ndarray) -> None:
    loaded = tiny_loaded()
    rng_state = torch.random.get_rng_state()
    weights = {k: v.clone() for k, v in loaded.codec.model.state_dict().items()}
    first = encode_image(picture, 4.0, loaded, refine_steps=5).data
    assert first != encode_image(picture, 4.0, loaded).data
    assert first == encode_image(picture, 4.0, loaded, refine_steps=5).data
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert not loaded.codec.model.training
    assert all(torch.equal(v, weights[k]) for k, v in loaded.codec.model.state_dict().items())


def test_a_size_budget_still_holds_with_refinement(picture: np.ndarray) -> None:
    loaded = tiny_loaded()
    budget = len(encode_image(picture, 5.0, loaded).data)
    encoded, fits = encode_image_within(picture, budget, loaded, refine_steps=5)
    assert fits and len(encoded.data) <= budget
    assert np.array_equal(decode_image(encoded.data, loaded), encoded.reconstruction)


def test_negative_refinement_is_a_one_line_error(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], picture: np.ndarray
) -> None:
    from PIL import Image

    Image.fromarray(picture).save(tmp_path / "in.png")
    assert main(["image", "encode", str(tmp_path / "in.png"), str(tmp_path / "a.tng"), "--refine", "-1"]) == 2
    assert "--refine" in capsys.readouterr().err
    assert main(["image", "encode", str(tmp_path / "in.png"), str(tmp_path / "b.tng"), "--refine", "2"]) == 0


def _coded_cost(encoded: EncodedImage, frame: np.ndarray, quality: float, loaded: LoadedImageCodec) -> float:
    """bits + lambda * 255^2 * squared error summed over pixels: the objective the model was trained on."""
    lam = lambdas_of_levels(loaded.codec.level(quality), loaded.codec.model.config.level_lambdas).item()
    squared_error = np.sum((encoded.reconstruction.astype(np.float64) - frame) ** 2) / 3
    return 8 * len(encoded.data) + lam * squared_error


@pytest.mark.slow
def test_refinement_lowers_the_coded_rd_cost_with_the_shipped_weights(sample_clip: Path) -> None:
    from tngvideo.tng_image import load_image_codec

    shipped = load_image_codec()
    frame = next(iter(open_video(sample_clip).frames()))
    for quality in (3.0, 7.0):
        plain = _coded_cost(encode_image(frame, quality, shipped), frame, quality, shipped)
        refined = _coded_cost(encode_image(frame, quality, shipped, refine_steps=15), frame, quality, shipped)
        assert refined < 0.99 * plain, (quality, refined, plain)
