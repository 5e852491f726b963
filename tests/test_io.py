"""Behaviour of tngvideo.io: reading any source as 8-bit RGB frames, and writing them back."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

import tngvideo.io.frames as frames_module
from tngvideo.errors import InputError, OutputError
from tngvideo.io import DEFAULT_CRF, open_video, open_writer, read_picture, write_picture
from tngvideo.io.pictures import picture_paths
from tngvideo.paths import data_root

NTSC = Fraction(30000, 1001)
LUMA_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """RGB PSNR in dB; local so these tests need no torch (tngvideo.metrics imports it)."""
    mse = np.mean((reference.astype(np.float64) - test) ** 2)
    return float(10 * np.log10(255**2 / mse)) if mse else float("inf")


def write_all(path: Path | str, frames: list[np.ndarray], fps: Fraction = NTSC, **options: Any) -> None:
    height, width = frames[0].shape[:2]
    with open_writer(path, width, height, fps, **options) as writer:
        for frame in frames:
            writer.write(frame)


def read_all(path: Path | str) -> list[np.ndarray]:
    return list(open_video(path).frames())


def save_pngs(folder: Path, images: list[np.ndarray]) -> Path:
    folder.mkdir()
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{index:04d}.png")
    return folder


def one_warning(record: list[warnings.WarningMessage], match: str) -> None:
    """Exactly one warning, on one line, saying ``match``."""
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages
    assert match in messages[0] and "\n" not in messages[0]


# Round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_lossless_h264_round_trip_is_bit_exact(tmp_path, smooth_frames, suffix):
    frames = smooth_frames(48, 64)
    path = tmp_path / f"clip{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_all(path, frames, lossless=True)
        source = open_video(path)
        decoded = list(source.frames())
    assert (source.info.fps, source.info.frame_count) == (NTSC, len(frames))
    assert all(np.array_equal(a, b) for a, b in zip(frames, decoded, strict=True))


def test_crf_mp4_round_trip_keeps_high_psnr_and_a_smaller_file(tmp_path, smooth_frames):
    frames = smooth_frames(64, 96, count=4)
    write_all(tmp_path / "default.mp4", frames)
    write_all(tmp_path / "lossless.mp4", frames, lossless=True)
    source = open_video(tmp_path / "default.mp4")
    decoded = list(source.frames())
    assert (source.info.width, source.info.height, source.info.fps) == (96, 64, NTSC)
    assert min(psnr(a, b) for a, b in zip(frames, decoded, strict=True)) > 42
    assert (tmp_path / "default.mp4").stat().st_size < (tmp_path / "lossless.mp4").stat().st_size / 2


def test_higher_crf_trades_quality_for_size(tmp_path, smooth_frames):
    frames = smooth_frames(64, 96, count=2)
    results = {}
    for crf in (DEFAULT_CRF, 30):
        path = tmp_path / f"crf{crf}.mp4"
        write_all(path, frames, crf=crf)
        results[crf] = (path.stat().st_size, psnr(frames[0], read_all(path)[0]))
    assert results[30][0] < results[DEFAULT_CRF][0] and results[30][1] < results[DEFAULT_CRF][1]


@pytest.mark.parametrize(("chroma", "header_chroma", "min_psnr"), [("420", b"C420", 42), ("444", b"C444", 50)])
def test_y4m_round_trip_keeps_fps_range_and_colours(tmp_path, smooth_frames, chroma, header_chroma, min_psnr):
    frames = smooth_frames(48, 64)
    path = tmp_path / "clip.y4m"
    write_all(path, frames, chroma=chroma)
    header = path.read_bytes().split(b"\n", 1)[0].split()
    assert b"F30000:1001" in header and b"XCOLORRANGE=LIMITED" in header
    assert any(field.startswith(header_chroma) for field in header)
    source = open_video(path)
    decoded = list(source.frames())
    assert (source.info.fps, source.info.frame_count, len(decoded)) == (NTSC, 3, 3)
    assert min(psnr(a, b) for a, b in zip(frames, decoded)) > min_psnr


@pytest.mark.parametrize("name", ["frames/", "frames"])
def test_png_folder_round_trip_is_bit_exact(tmp_path, smooth_frames, name):
    frames = smooth_frames(48, 64)
    write_all(str(tmp_path / name), frames, fps=Fraction(25))
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert all(np.array_equal(a, b) for a, b in zip(frames, read_all(tmp_path / "frames"), strict=True))


def test_png_folder_warns_that_it_keeps_no_frame_rate(tmp_path, smooth_frames):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        write_all(tmp_path / "frames", smooth_frames(8, 8), fps=NTSC)
    one_warning(record, "no frame rate")
    assert open_video(tmp_path / "frames").info.fps == Fraction(25)


@pytest.mark.parametrize(
    ("name", "options", "min_psnr"),
    [
        ("lossless.mp4", {"lossless": True}, None),
        ("yuv444.mkv", {"chroma": "444"}, 40),
        ("yuv420.y4m", {}, 38),
        ("yuv444.y4m", {"chroma": "444"}, 50),
        ("frames", {"fps": Fraction(25)}, None),
    ],
)
def test_odd_sizes_round_trip_at_their_size(tmp_path, smooth_frames, name, options, min_psnr):
    frames = smooth_frames(47, 33)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_all(tmp_path / name, frames, **options)
    decoded = read_all(tmp_path / name)
    assert decoded[0].shape == (47, 33, 3)
    if min_psnr is None:
        assert all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    else:
        assert min(psnr(a, b) for a, b in zip(frames, decoded)) > min_psnr


def test_odd_sizes_in_420_h264_are_edge_padded_with_one_warning(tmp_path, smooth_frames):
    frames = smooth_frames(47, 33)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        write_all(tmp_path / "odd.mp4", frames)
    one_warning(record, "padded to 34x48")
    decoded = read_all(tmp_path / "odd.mp4")
    assert decoded[0].shape == (48, 34, 3)
    assert min(psnr(a, b[:47, :33]) for a, b in zip(frames, decoded)) > 40
    # The added row and column repeat the edge, not black.
    assert np.abs(decoded[0][47].astype(int) - decoded[0][46]).mean() < 3


@pytest.mark.parametrize(("height", "code"), [(144, 6), (720, 1)])
def test_written_yuv_is_tagged_with_the_matrix_used(tmp_path, smooth_frames, height, code):
    write_all(tmp_path / "clip.mp4", smooth_frames(height, 16, count=1))
    with av.open(str(tmp_path / "clip.mp4")) as container:
        frame = next(container.decode(video=0))
    assert (frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range) == (code, code, code, 1)


# Sources that are not 8-bit RGB ------------------------------------------------------------------


def test_gray_png_frames_read_as_equal_channels_with_one_warning(tmp_path):
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    folder = save_pngs(tmp_path / "gray", [ramp, ramp[:, ::-1]])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        decoded = read_all(folder)
    one_warning(record, "grayscale")
    assert all(
        np.array_equal(rgb, np.repeat(gray[..., None], 3, axis=2)) for rgb, gray in zip(decoded, [ramp, ramp[:, ::-1]])
    )


def test_gray_jpeg_is_read_as_full_range(tmp_path):
    gray = np.repeat(np.array([40, 230], dtype=np.uint8), 8)[None].repeat(8, axis=0)
    Image.fromarray(gray).save(tmp_path / "gray.jpg", quality=100)
    with pytest.warns(UserWarning, match="grayscale"):
        rgb = read_all(tmp_path / "gray.jpg")[0]
    assert np.abs(rgb[..., 0].astype(int) - gray).max() <= 2  # limited range would give 28 and 249


def test_gray_video_is_expanded_from_limited_range(tmp_path, write_planes_clip):
    luma = np.tile(np.array([16, 126, 235], dtype=np.uint8).repeat(8), (16, 1))
    # FFV1, not libx265: x265's lossless 4:0:0 flush intermittently gave packets mkv refused (EINVAL).
    path = write_planes_clip(tmp_path / "gray.mkv", [(luma,)], "gray", codec="ffv1", options={})
    with pytest.warns(UserWarning, match="grayscale"):
        rgb = read_all(path)[0]
    assert rgb[0, ::8].tolist() == [[0, 0, 0], [128, 128, 128], [255, 255, 255]]


def test_ten_bit_video_is_rounded_to_8_bit_with_one_warning(tmp_path, write_planes_clip):
    luma = np.tile(np.linspace(64, 940, 64).astype(np.uint16), (16, 1))
    chroma = np.full((8, 32), 512, dtype=np.uint16)
    path = write_planes_clip(tmp_path / "ten.mp4", [(luma, chroma, chroma)], "yuv420p10le")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rgb = read_all(path)[0]
    one_warning(record, "10-bit")
    expected = (luma / 4 - 16) * 255 / 219
    assert np.abs(rgb[..., 1] - expected).max() <= 1 and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_sixteen_bit_png_is_rounded_to_8_bit(tmp_path):
    wide = np.array([[0, 128, 129, 32767, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "deep.png")
    with pytest.warns(UserWarning, match="16-bit"):
        rgb = read_all(tmp_path / "deep.png")[0]
    assert rgb[0, :, 0].tolist() == np.rint(wide[0] / 257).astype(int).tolist()


@pytest.mark.parametrize("transparent_index, warns", [(0, True), (7, False)])
def test_palette_transparency_counts_as_alpha_only_where_used(tmp_path, transparent_index, warns):
    picture = Image.new("P", (8, 4))
    picture.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    picture.paste(1, (0, 0, 4, 4))  # indices 0 and 1 are used, 7 is not
    picture.save(tmp_path / "palette.png", transparency=transparent_index)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rgb = read_picture(tmp_path / "palette.png")
    assert rgb[0, 0].tolist() == [0, 255, 0] and rgb[0, 7].tolist() == [255, 0, 0]
    assert any("alpha dropped" in str(w.message) for w in record) == warns


def test_alpha_is_dropped_and_colours_kept_as_stored(tmp_path, smooth_frames):
    colours = smooth_frames(8, 16, count=2)
    alpha = np.zeros((8, 16, 1), dtype=np.uint8)
    alpha[:, 8:] = 128
    folder = save_pngs(tmp_path / "rgba", [np.concatenate([c, alpha], axis=2) for c in colours])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        decoded = read_all(folder)
    one_warning(record, "alpha dropped")
    assert all(np.array_equal(a, b) for a, b in zip(colours, decoded, strict=True))


# Colour: matrix and range from tags, else the height rule ---------------------------------------

PATCHES = np.array([[81, 90, 240], [145, 54, 34], [41, 240, 110], [128, 128, 128], [150, 110, 160]], dtype=np.float64)


def reference_rgb(ycbcr: np.ndarray, matrix: str, full: bool) -> np.ndarray:
    """Textbook YCbCr -> RGB (Rec. 601/709 equations), independent of the code under test."""
    kr, kb = LUMA_WEIGHTS[matrix]
    kg = 1 - kr - kb
    y, cb, cr = ycbcr[:, 0], ycbcr[:, 1] - 128, ycbcr[:, 2] - 128
    if not full:
        y, cb, cr = (y - 16) * 255 / 219, cb * 255 / 224, cr * 255 / 224
    rgb = np.stack(
        [y + 2 * (1 - kr) * cr, y - (2 * kb * (1 - kb) * cb + 2 * kr * (1 - kr) * cr) / kg, y + 2 * (1 - kb) * cb], 1
    )
    return np.clip(np.rint(rgb), 0, 255)


H264 = ("colour.mp4", "libx264")  # full range decodes as yuvj444p
Y4M = ("colour.y4m", "rawvideo")  # full range is a tag on yuv444p; y4m stores no matrix


@pytest.mark.parametrize(
    ("colorspace", "color_range", "height", "container", "matrix", "full"),
    [
        (6, 1, 16, H264, "bt601", False),  # SMPTE 170M, limited
        (1, 1, 16, H264, "bt709", False),  # the tag wins over the height rule
        (5, 2, 16, H264, "bt601", True),  # BT.470BG, full
        (1, 2, 720, H264, "bt709", True),
        (None, None, 16, H264, "bt601", False),  # untagged SD
        (None, None, 720, H264, "bt709", False),  # untagged HD
        (None, 2, 16, Y4M, "bt601", True),
    ],
)
def test_tagged_matrix_and_range_decide_the_rgb(
    tmp_path, write_planes_clip, colorspace, color_range, height, container, matrix, full
):
    expected = reference_rgb(PATCHES, matrix, full)
    for other in [(m, f) for m in LUMA_WEIGHTS for f in (False, True) if (m, f) != (matrix, full)]:
        assert np.abs(reference_rgb(PATCHES, *other) - expected).max() > 4  # the test can tell them apart
    planes = [np.tile(PATCHES[:, c].astype(np.uint8).repeat(4), (height, 1)) for c in range(3)]
    name, codec = container
    options = {"qp": "0"} if codec == "libx264" else {}
    path = write_planes_clip(
        tmp_path / name,
        [planes],
        "yuv444p",
        codec=codec,
        options=options,
        colorspace=colorspace,
        color_range=color_range,
    )
    source = open_video(path)
    rgb = next(source.frames())
    assert (source.info.colorspace, source.info.color_range) == (matrix, "full" if full else "limited")
    assert np.abs(rgb[0, ::4].astype(int) - expected).max() <= 1


# Streaming ---------------------------------------------------------------------------------------


def test_reader_converts_frames_only_as_they_are_taken(tmp_path, smooth_frames, monkeypatch):
    write_all(tmp_path / "clip.y4m", smooth_frames(16, 16, count=30))
    converted = []
    real = frames_module._to_rgb
    monkeypatch.setattr(frames_module, "_to_rgb", lambda frame, rng: converted.append(1) or real(frame, rng))
    frames = open_video(tmp_path / "clip.y4m").frames()
    assert isinstance(frames, Iterator)
    next(frames)
    assert len(converted) == 1
    assert sum(1 for _ in frames) == 29


def test_corrupt_frame_midway_fails_after_the_good_frames(tmp_path, smooth_frames):
    folder = save_pngs(tmp_path / "clip", smooth_frames(8, 8, count=3))
    png = (folder / "0001.png").read_bytes()
    (folder / "0001.png").write_bytes(png[: len(png) // 2])
    frames = open_video(folder).frames()
    next(frames)
    with pytest.raises(InputError, match="0001.png"):
        next(frames)


def test_unpadded_frame_numbers_sort_numerically(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for number in (1, 2, 10):
        Image.fromarray(np.full((4, 4, 3), number, dtype=np.uint8)).save(folder / f"f{number}.png")
    assert [frame[0, 0, 0] for frame in read_all(folder)] == [1, 2, 10]


def test_single_image_file_reads_as_a_one_frame_clip(tmp_path, smooth_frames):
    image = smooth_frames(24, 40, count=1)[0]
    Image.fromarray(image).save(tmp_path / "photo.png")
    source = open_video(tmp_path / "photo.png")
    assert (source.info.frame_count, source.info.fps) == (1, Fraction(25))
    decoded = list(source.frames())
    assert len(decoded) == 1 and np.array_equal(decoded[0], image)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_pictures_are_read_upright_by_their_exif_orientation(tmp_path, smooth_frames, orientation):
    stored = Image.fromarray(smooth_frames(24, 40, count=1)[0])
    exif = stored.getexif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "photo.png", exif=exif.tobytes())
    with Image.open(tmp_path / "photo.png") as img:
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    source = open_video(tmp_path / "photo.png")
    assert (source.info.height, source.info.width) == upright.shape[:2]
    assert np.array_equal(next(source.frames()), upright)


def test_video_display_rotation_is_applied(tmp_path, smooth_frames):
    stored = smooth_frames(16, 32, count=2)
    with av.open(str(tmp_path / "phone.mp4"), "w") as container:
        stream = container.add_stream("libx264rgb", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 32, 16, "rgb24"
        stream.set_display_rotation(90)  # shown turned a quarter counter-clockwise, as a portrait clip
        for frame in stored:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    source = open_video(tmp_path / "phone.mp4")
    assert (source.info.width, source.info.height) == (16, 32)
    assert all(np.array_equal(read, np.rot90(frame)) for read, frame in zip(source.frames(), stored, strict=True))


def test_frames_of_different_sizes_in_a_folder_are_refused(tmp_path):
    folder = save_pngs(tmp_path / "clip", [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)])
    with pytest.raises(InputError, match="frame 1 is 6x4"):
        read_all(folder)


# Errors ------------------------------------------------------------------------------------------


def _text_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.mp4").write_text("not a video\n")
    return tmp_path / "notes.mp4"


def _empty_file(tmp_path: Path) -> Path:
    (tmp_path / "empty.mkv").touch()
    return tmp_path / "empty.mkv"


def _corrupt_pngs(tmp_path: Path) -> Path:
    (tmp_path / "clip").mkdir()
    for index in range(2):
        (tmp_path / "clip" / f"{index:04d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
    return tmp_path / "clip"


def _jpeg_that_is_text(tmp_path: Path) -> Path:
    (tmp_path / "photo.jpg").write_text("hello")
    return tmp_path / "photo.jpg"


def _folder_of_two_videos(tmp_path: Path) -> Path:
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(
    "make",
    [_text_file, _empty_file, _corrupt_pngs, _jpeg_that_is_text, _folder_of_two_videos, lambda p: p / "missing.mp4"],
)
def test_unreadable_input_raises_one_line_input_error(tmp_path, make):
    with pytest.raises(InputError) as caught:
        read_all(make(tmp_path))
    assert "\n" not in str(caught.value) and str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("name", ["clip.mp4", "clip.y4m", "frames"])
def test_writer_refuses_to_overwrite_unless_asked(tmp_path, smooth_frames, name):
    path = tmp_path / name
    write_all(path, smooth_frames(8, 8, count=3), fps=Fraction(25))
    with pytest.raises(OutputError, match="overwrite=True"):
        write_all(path, smooth_frames(8, 8, count=1), fps=Fraction(25))
    assert len(read_all(path)) == 3
    write_all(path, smooth_frames(8, 8, count=2, seed=1), fps=Fraction(25), overwrite=True)
    assert len(read_all(path)) == 2  # stale frames of a folder are gone too


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("a_file/clip.mp4", {}),  # parent is a file: unwritable even for root
        ("no_such_dir/clip.y4m", {}),
        ("a_file/frames", {}),
        ("a_dir", {"lossless": True, "crf": 10}),
        ("clip.avi", {}),
        ("clip.y4m", {"crf": 20}),
        ("clip.mp4", {"crf": 99}),
    ],
)
def test_unwritable_destination_or_options_raise_output_error(tmp_path, name, options):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    with pytest.raises(OutputError) as caught:
        open_writer(tmp_path / name, 8, 8, Fraction(25), **options)
    assert "\n" not in str(caught.value)


def test_writer_rejects_frames_of_the_wrong_shape(tmp_path):
    with open_writer(tmp_path / "clip.y4m", 8, 8, Fraction(25)) as writer, pytest.raises(ValueError, match="8x8x3"):
        writer.write(np.zeros((8, 9, 3), dtype=np.uint8))


# Damaged and irregular sources: correct frames with one-line warnings, or one-line errors ----------


def read_with_warnings(path: Path) -> tuple[list[np.ndarray], list[str]]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        frames = read_all(path)
    messages = [str(w.message) for w in record]
    assert all("\n" not in message for message in messages), messages
    return frames, messages


def test_a_corrupt_packet_mid_video_is_warned_with_its_frame_and_the_frame_count_is_kept(tmp_path, damaged_clip):
    clean = read_all(damaged_clip(tmp_path / "clean.mp4", ()))
    frames, messages = read_with_warnings(damaged_clip(tmp_path / "bad.mp4", (5,)))
    assert len(frames) == len(clean) == 12
    assert len(messages) == 1 and re.search(r"bad\.mp4: frame 5 (is damaged|could not be decoded)", messages[0])
    assert all(np.array_equal(a, b) for a, b in zip(frames[:5], clean[:5], strict=True))  # up to the damage: exact
    if "repeats frame 4" in messages[0]:
        assert np.array_equal(frames[5], frames[4])


def test_several_damaged_packets_give_the_first_frame_and_a_summary(tmp_path, damaged_clip):
    frames, messages = read_with_warnings(damaged_clip(tmp_path / "bad.mp4", (3, 7)))
    assert len(frames) == 12 and len(messages) == 2
    assert "frame 3" in messages[0] and "2 damaged frames in all (frame 3, frame 7)" in messages[1]


def test_a_file_of_which_no_frame_decodes_is_one_error_and_no_warning(tmp_path, damaged_clip):
    path = damaged_clip(tmp_path / "bad.mp4", tuple(range(3)), count=3)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match="bad.mp4: decoding failed"):
            read_all(path)
    assert not record


def _timed_clip(path: Path, smooth_frames, milliseconds: list[int]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv444p"
        stream.time_base = Fraction(1, 1000)
        for frame, time_ms in zip(smooth_frames(32, 48, count=len(milliseconds)), milliseconds, strict=True):
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video.pts, video.time_base = time_ms, Fraction(1, 1000)
            container.mux(stream.encode(video))
        container.mux(stream.encode(None))
    return path


def test_a_variable_frame_rate_is_read_whole_with_one_warning(tmp_path, smooth_frames):
    frames, messages = read_with_warnings(_timed_clip(tmp_path / "vfr.mp4", smooth_frames, [0, 40, 80, 120, 300, 340, 380]))
    assert len(frames) == 7
    assert len(messages) == 1 and "variable frame rate" in messages[0] and "timing is not kept" in messages[0]


def test_a_constant_rate_with_millisecond_rounding_is_not_variable(tmp_path, smooth_frames):
    write_all(tmp_path / "ntsc.mkv", smooth_frames(16, 16, count=12), fps=NTSC)  # 33/34 ms in a 1 ms time base
    frames, messages = read_with_warnings(tmp_path / "ntsc.mkv")
    assert len(frames) == 12 and messages == []


def _raw_h264(path: Path, smooth_frames, width: int, height: int, count: int) -> bytes:
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(smooth_frames(height, width, count=count)):
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video.pts = index
            container.mux(stream.encode(video))
        container.mux(stream.encode(None))
    return path.read_bytes()


def test_a_size_change_mid_stream_is_a_one_line_error_naming_the_frame(tmp_path, smooth_frames):
    first = _raw_h264(tmp_path / "a.264", smooth_frames, 48, 32, 3)
    (tmp_path / "both.264").write_bytes(first + _raw_h264(tmp_path / "b.264", smooth_frames, 64, 48, 2))
    source = open_video(tmp_path / "both.264")
    assert (source.info.width, source.info.height) == (48, 32)  # the first frame's size, not the probe's last
    frames = source.frames()
    assert len(list(islice(frames, 3))) == 3
    with pytest.raises(InputError, match="frame 3 is 64x48, expected 48x32: the size changes mid-stream") as caught:
        next(frames)
    assert "\n" not in str(caught.value)


def test_a_clip_with_no_video_stream_is_a_one_line_error(tmp_path):
    with av.open(str(tmp_path / "tone.m4a"), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        samples = (0.3 * np.sin(np.arange(8000) / 10)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(InputError, match="tone.m4a: has no video stream") as caught:
        open_video(tmp_path / "tone.m4a")
    assert "\n" not in str(caught.value)


def test_a_cmyk_jpeg_is_read_as_rgb_with_one_warning(tmp_path, smooth_frames):
    rgb = smooth_frames(32, 48, count=1)[0]
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "print.jpg", quality=95)
    with Image.open(tmp_path / "print.jpg") as stored:
        assert stored.mode == "CMYK"
        expected = np.asarray(stored.convert("RGB"))
    pictures, messages = read_with_warnings(tmp_path / "print.jpg")
    assert len(messages) == 1 and "CMYK" in messages[0] and "alpha" not in messages[0]
    assert np.abs(pictures[0].astype(int) - expected).max() <= 3


def test_a_sixteen_bit_png_gives_exactly_one_warning(tmp_path):
    Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(tmp_path / "deep.png")
    pictures, messages = read_with_warnings(tmp_path / "deep.png")
    assert pictures[0][0, :, 0].tolist() == [0, 128, 255]
    assert len(messages) == 1 and "16-bit" in messages[0]


def test_a_folder_of_mixed_files_reads_its_pictures_and_names_what_it_ignores(tmp_path, smooth_frames):
    folder = tmp_path / "mixed"
    folder.mkdir()
    colour = smooth_frames(16, 24, count=2)
    Image.fromarray(colour[0]).save(folder / "f1.png")
    Image.fromarray(colour[1]).save(folder / "f2.jpg", quality=95)
    Image.fromarray(np.arange(16 * 24, dtype=np.uint16).reshape(16, 24) * 170).save(folder / "f3.png")  # 16-bit gray
    (folder / "notes.txt").write_text("shot on a Tuesday\n")
    (folder / "Thumbs.db").write_bytes(b"\0" * 10)
    (folder / "sub").mkdir()
    (folder / ".DS_Store").write_bytes(b"\0")
    frames, messages = read_with_warnings(folder)
    assert len(frames) == 3 and np.array_equal(frames[0], colour[0])
    assert len(messages) == 2
    assert "2 files that are not pictures ignored (notes.txt, Thumbs.db)" in messages[0] or \
        "2 files that are not pictures ignored (Thumbs.db, notes.txt)" in messages[0]
    assert "16-bit" in messages[1] and "grayscale" in messages[1]


def test_an_opaque_alpha_channel_is_not_reported_as_dropped(tmp_path, smooth_frames):
    rgb = smooth_frames(8, 8, count=1)[0]
    Image.fromarray(np.concatenate([rgb, np.full((8, 8, 1), 255, np.uint8)], axis=2)).save(tmp_path / "opaque.png")
    pictures, messages = read_with_warnings(tmp_path / "opaque.png")
    assert np.array_equal(pictures[0], rgb) and messages == []


# The shipped sample ------------------------------------------------------------------------------


def test_sample_clip_is_the_start_of_the_foreman_training_clip(sample_clip):
    source = open_video(sample_clip)
    assert (source.info.width, source.info.height, source.info.fps, source.info.frame_count) == (176, 144, 25, 20)
    assert sample_clip.stat().st_size < 300_000
    sample = list(source.frames())
    assert len(sample) == 20
    original = data_root() / "video/train/foreman_qcif"
    if not original.is_dir():
        pytest.skip("shared data not available to compare against")
    assert all(np.array_equal(a, b) for a, b in zip(sample, islice(open_video(original).frames(), 20), strict=True))


# Single pictures ---------------------------------------------------------------------------------


def test_picture_round_trip_is_lossless_and_reads_like_pillow(tmp_path, smooth_frames):
    pictures = smooth_frames(24, 40, count=2)
    write_picture(tmp_path / "a.png", pictures[0])
    with Image.open(tmp_path / "a.png") as img:
        assert np.array_equal(np.asarray(img.convert("RGB")), pictures[0])
    assert np.array_equal(read_picture(tmp_path / "a.png"), pictures[0])


def test_picture_of_a_clip_is_its_first_frame(tmp_path, smooth_frames):
    pictures = smooth_frames(24, 40, count=2)
    write_all(tmp_path / "clip.mkv", pictures, lossless=True)
    assert np.array_equal(read_picture(tmp_path / "clip.mkv"), pictures[0])


def test_picture_paths_lists_only_pictures_in_name_order(tmp_path, smooth_frames):
    pictures = smooth_frames(24, 40, count=2)
    for name in ("b.png", "a.jpg", "c.ppm"):
        Image.fromarray(pictures[0]).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a picture")
    assert [p.name for p in picture_paths(tmp_path)] == ["a.jpg", "b.png", "c.ppm"]
    assert read_picture(tmp_path / "c.ppm").shape == pictures[0].shape


def test_write_picture_refuses_to_overwrite_or_write_lossy_formats(tmp_path, smooth_frames):
    pictures = smooth_frames(24, 40, count=2)
    write_picture(tmp_path / "a.png", pictures[0])
    with pytest.raises(OutputError, match="exists"):
        write_picture(tmp_path / "a.png", pictures[1])
    write_picture(tmp_path / "a.png", pictures[1], overwrite=True)
    assert np.array_equal(read_picture(tmp_path / "a.png"), pictures[1])
    with pytest.raises(OutputError, match=r"\.png"):
        write_picture(tmp_path / "a.jpg", pictures[0])
    with pytest.raises(OutputError, match="cannot write"):
        write_picture(tmp_path / "missing" / "a.png", pictures[0])
