"""Classical anchors on tiny synthetic pictures and clips made here (no media shipped)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import av
import numpy as np
import pytest
from av.video.codeccontext import VideoCodecContext
from PIL import Image, JpegImagePlugin

from tngvideo.anchors.colour import (
    Chroma,
    ColourSpec,
    downsample_chroma,
    planes_to_rgb,
    rgb_to_planes,
    rgb_to_ycbcr,
    upsample_chroma,
)
from tngvideo.anchors.image import ImageAnchor, JpegAnchor, X265IntraAnchor, default_image_anchors
from tngvideo.anchors.libav import EncoderSetup, open_encoder, planes_to_frame
from tngvideo.anchors.video import VideoAnchor, VideoEncoder, encode_clip
from tngvideo.io.frames import open_video
from tngvideo.metrics import psnr

# Big enough that JPEG 2000's few hundred header bytes leave it a real budget at its mid rates.
HEIGHT, WIDTH = 168, 192


def synthetic_rgb(height: int = HEIGHT, width: int = WIDTH, seed: int = 0, noise: float = 3.0) -> np.ndarray:
    """Colour gradients plus Gaussian noise: smooth structure and texture in one small picture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack((255 * xx / width, 255 * yy / height, 128 + 100 * np.sin((xx + yy) / 9)), axis=-1)
    noisy = base + np.random.default_rng(seed).normal(0, noise, base.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def write_clip(folder: Path, frames: int = 8) -> Path:
    """A clip folder of PNG frames: the gradient picture panning right by 2 px a frame."""
    folder.mkdir()
    wide = synthetic_rgb(HEIGHT, WIDTH + 2 * frames)
    for index in range(frames):
        Image.fromarray(wide[:, 2 * index : 2 * index + WIDTH]).save(folder / f"{index:03d}.png")
    return folder


ALL_SPECS = [ColourSpec(m, r, c) for m in ("bt601", "bt709") for r in ("limited", "full") for c in ("444", "420")]


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if s.chroma == "444"], ids=str)
def test_444_colour_round_trip_is_within_rounding(spec: ColourSpec) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    back = planes_to_rgb(rgb_to_planes(rgb, spec), spec)
    error = np.abs(back.astype(int) - rgb.astype(int))
    # Full range quantises to 256 levels (<= 1 off); limited range's 219 luma levels cost one more.
    assert error.max() <= (1 if spec.range == "full" else 2)
    assert error.mean() < 0.5


@pytest.mark.parametrize("spec", [s for s in ALL_SPECS if s.chroma == "420"], ids=str)
def test_420_colour_round_trip_of_smooth_picture_is_accurate(spec: ColourSpec) -> None:
    rgb = synthetic_rgb(noise=0.0)
    assert psnr(rgb, planes_to_rgb(rgb_to_planes(rgb, spec), spec)) > 42.0


def test_ycbcr_of_white_black_and_red_match_bt601_code_values() -> None:
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    limited = rgb_to_ycbcr(rgb, "bt601", "limited")[0]
    np.testing.assert_allclose(limited[0], [235, 128, 128], atol=1e-9)
    np.testing.assert_allclose(limited[1], [16, 128, 128], atol=1e-9)
    np.testing.assert_allclose(rgb_to_ycbcr(rgb, "bt601", "full")[0, 2], [76.245, 84.972, 255.5], atol=1e-3)
    np.testing.assert_allclose(rgb_to_ycbcr(rgb, "bt709", "full")[0, 2, 0], 0.2126 * 255, atol=1e-9)


def test_chroma_downsample_is_2x2_box_average_with_edge_replication() -> None:
    plane = np.array([[0, 4, 8], [4, 8, 12], [8, 12, 16]], dtype=np.float64)
    np.testing.assert_allclose(downsample_chroma(plane), [[4, 10], [10, 16]])


def test_chroma_upsample_restores_a_linear_ramp_away_from_edges() -> None:
    ramp = np.add.outer(np.arange(16.0), 2 * np.arange(20.0))
    restored = upsample_chroma(downsample_chroma(ramp), 16, 20)
    np.testing.assert_allclose(restored[1:-1, 1:-1], ramp[1:-1, 1:-1], atol=1e-9)


def test_420_planes_of_odd_sized_picture_round_up_and_crop_back() -> None:
    spec = ColourSpec(chroma="420")
    planes = rgb_to_planes(synthetic_rgb(47, 63), spec)
    assert planes.y.shape == (47, 63) and planes.cb.shape == planes.cr.shape == (24, 32)
    assert planes_to_rgb(planes, spec).shape == (47, 63, 3)


@pytest.mark.parametrize("anchor", default_image_anchors(), ids=lambda a: a.name)
def test_image_anchor_round_trips_with_sane_rate_and_quality(anchor: ImageAnchor) -> None:
    rgb = synthetic_rgb()
    low, high = (anchor.measure(rgb, setting) for setting in (anchor.settings[2], anchor.settings[-2]))
    for result in (low, high):
        assert result.codec == anchor.name and result.bytes > 0
        assert result.bpp == pytest.approx(8 * result.bytes / (HEIGHT * WIDTH))
        assert 15.0 < result.psnr < 60.0 and 0.3 < result.msssim <= 1.0
    assert high.bytes > low.bytes and high.psnr > low.psnr + 1.5


def test_x265_intra_pads_odd_sizes_and_crops_back() -> None:
    rgb = synthetic_rgb(HEIGHT - 3, WIDTH - 5)
    size, decoded = X265IntraAnchor(chroma="420", preset="ultrafast").round_trip(rgb, 27)
    assert size > 0 and decoded.shape == rgb.shape and psnr(rgb, decoded) > 30.0


@pytest.mark.parametrize(("quality", "sampling"), [(75, 2), (90, 0)])
def test_jpeg_anchor_uses_420_below_quality_90_and_444_from_it(quality: int, sampling: int) -> None:
    buffer = io.BytesIO()
    Image.fromarray(synthetic_rgb()).save(buffer, "JPEG", **JpegAnchor().save_options(quality))
    with Image.open(buffer) as img:
        assert JpegImagePlugin.get_sampling(img) == sampling


@pytest.mark.parametrize("encoder", ["libx264", "libx265"])
def test_encoder_tags_colour_matrix_and_range_in_the_stream(encoder: VideoEncoder) -> None:
    spec = ColourSpec("bt709", "full", "420")
    context = open_encoder(EncoderSetup(encoder, spec, {"preset": "ultrafast"}), WIDTH, HEIGHT)
    packets = context.encode(planes_to_frame(rgb_to_planes(synthetic_rgb(), spec), spec, 0)) + context.encode(None)
    decoder = cast(VideoCodecContext, av.CodecContext.create({"libx264": "h264", "libx265": "hevc"}[encoder], "r"))
    frames = [frame for packet in [*packets, None] for frame in decoder.decode(packet)]
    assert frames[0].colorspace == 1 and frames[0].color_range == 2  # BT.709, full (JPEG) range


@pytest.mark.parametrize("encoder", ["libx264", "libx265"])
@pytest.mark.parametrize("chroma", ["420", "444"])
def test_video_anchor_puts_a_keyframe_every_gop(tmp_path: Path, encoder: VideoEncoder, chroma: Chroma) -> None:
    source = open_video(write_clip(tmp_path / "clip", frames=8))
    anchor = VideoAnchor(encoder, "ultrafast", chroma, "psnr", gop=3)
    result = encode_clip(source, anchor, crf=23, max_frames=7)
    assert [r.index for r in result.records] == list(range(7))
    assert [r.index for r in result.records if r.keyframe] == [0, 3, 6] and result.keyframes == 3
    assert result.bits == sum(r.bits for r in result.records) > 0
    assert result.bpp == pytest.approx(result.bits / (7 * HEIGHT * WIDTH))
    assert result.psnr > 30.0 and result.psnr_y > 30.0 and 0.5 < result.msssim <= 1.0


def test_a_zerolatency_anchor_codes_without_b_frames_and_says_so(tmp_path: Path) -> None:
    source = open_video(write_clip(tmp_path / "clip", frames=6))
    anchor = VideoAnchor("libx264", "veryfast", "420", "zerolatency", gop=3)
    assert anchor.name == "x264-veryfast-yuv420p-zerolatency" and "tune=zerolatency" in anchor.describe()
    result = encode_clip(source, anchor, crf=23)
    assert "".join(r.pict_type for r in result.records) == "IPPIPP"


def test_video_anchor_lower_crf_spends_more_bits_for_higher_quality(tmp_path: Path) -> None:
    source = open_video(write_clip(tmp_path / "clip", frames=4))
    coarse, fine = (encode_clip(source, VideoAnchor("libx264", "ultrafast", gop=4), crf) for crf in (40, 18))
    assert fine.bits > coarse.bits and fine.psnr > coarse.psnr


@pytest.mark.skipif("libsvtav1" not in av.codecs_available, reason="PyAV built without libsvtav1")
def test_svtav1_anchor_round_trips_with_fixed_gop(tmp_path: Path) -> None:
    source = open_video(write_clip(tmp_path / "clip", frames=8))
    result = encode_clip(source, VideoAnchor("libsvtav1", "12", gop=4), crf=35)
    assert result.frames == 8 and result.keyframes == 2 and result.bits > 0 and result.psnr > 25.0


def test_svtav1_anchor_rejects_444() -> None:
    with pytest.raises(ValueError, match="4:2:0"):
        VideoAnchor("libsvtav1", "8", chroma="444")
