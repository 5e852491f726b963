"""The .tngv container and the video commands (all-intra), with a tiny model."""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tngvideo.bitstream import CodedFrame, FrameType, ModelIdentity, VideoHeader, pack_video, unpack_video
from tngvideo.cli import EXIT_ERROR, main
from tngvideo.codecs.image_codec import LatentPayload
from tngvideo.codecs.latent_refinement import refine_latents
from tngvideo.errors import BitstreamError
from tngvideo.io.frames import open_video
from tngvideo.io.writers import open_writer
from tngvideo.tng_image import load_image_codec
from tngvideo.tng_video import encode_intra_frame, open_tngv

Frames = Callable[..., list[np.ndarray]]


@pytest.fixture()
def clip(tmp_path: Path, smooth_frames: Frames) -> Path:
    """Three odd-sized frames (47x33) as a PNG folder."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for index, frame in enumerate(smooth_frames(33, 47)):
        Image.fromarray(frame).save(folder / f"{index:03d}.png")
    return folder


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("tngvideo: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_video_round_trip_decodes_exactly_the_encoders_reconstructions(models: Path, tmp_path: Path, clip: Path) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--quality", "3"]) == 0
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out") + "/"]) == 0
    decoded = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "out").glob("*.png"))]
    loaded = load_image_codec()
    expected = [encode_intra_frame(loaded.codec.analyse(f), 3.0, loaded).reconstruction for f in open_video(clip).frames()]
    assert len(decoded) == 3
    for got, want in zip(decoded, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not list(tmp_path.glob("*.part"))



def test_refined_video_frames_decode_exactly_and_differ_from_plain_ones(models: Path, tmp_path: Path, clip: Path) -> None:
    assert main(["encode", str(clip), str(tmp_path / "plain.tngv"), "--quality", "3"]) == 0
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--quality", "3", "--refine", "3"]) == 0
    assert (tmp_path / "a.tngv").read_bytes() != (tmp_path / "plain.tngv").read_bytes()
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out") + "/"]) == 0
    decoded = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "out").glob("*.png"))]
    loaded = load_image_codec()
    expected = [
        encode_intra_frame(refine_latents(loaded.codec, f, loaded.codec.analyse(f), 3.0, 3), 3.0, loaded).reconstruction
        for f in open_video(clip).frames()
    ]
    assert len(decoded) == 3
    for got, want in zip(decoded, expected, strict=True):
        np.testing.assert_array_equal(got, want)

def test_eval_measures_the_refined_coding_when_asked(models: Path, tmp_path: Path, clip: Path) -> None:
    assert main(["eval", str(clip), "--frames", "1", "--refine", "3", "--out", str(tmp_path / "e")]) == 0
    results = json.loads((tmp_path / "e" / "frames.json").read_text())
    measured = {r["setting"]: r["records"][0]["bits"] for r in results if r["codec"] == "tngvideo-intra"}
    loaded = load_image_codec()
    frame = next(open_video(clip).frames())
    picture = loaded.codec.analyse(frame)
    refined = {q: 8 * len(encode_intra_frame(refine_latents(loaded.codec, frame, picture, q, 3), q, loaded).unit) for q in measured}
    plain = {q: 8 * len(encode_intra_frame(picture, q, loaded).unit) for q in measured}
    assert measured == refined != plain
    assert "refinement 3 steps" in json.loads((tmp_path / "e" / "rd.json").read_text())["settings"]["tngvideo-intra"]


def test_frame_rate_and_size_survive_the_round_trip(models: Path, tmp_path: Path, smooth_frames: Frames) -> None:
    source = tmp_path / "in.y4m"
    with open_writer(source, 48, 32, Fraction(30000, 1001), chroma="444") as writer:
        for frame in smooth_frames(32, 48, count=2):
            writer.write(frame)
    assert main(["encode", str(source), str(tmp_path / "a.tngv"), "--frames", "1"]) == 0
    header, frames = unpack_video((tmp_path / "a.tngv").read_bytes())
    assert (header.width, header.height, header.fps, len(frames)) == (48, 32, Fraction(30000, 1001), 1)
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out.y4m")]) == 0
    info = open_video(tmp_path / "out.y4m").info
    assert (info.width, info.height, info.fps) == (48, 32, Fraction(30000, 1001))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-7], "truncated"),
        (lambda data: data[:60] + bytes([data[60] ^ 0x10]) + data[61:], "corrupt"),
        (lambda data: data + b"\0", "unexpected bytes"),
        (lambda data: b"RIFF" + data[4:], "bad magic"),
    ],
)
def test_damaged_files_are_one_line_errors_and_create_no_output(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str],
    damage: Callable[[bytes], bytes], message: str,
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    (tmp_path / "bad.tngv").write_bytes(damage((tmp_path / "a.tngv").read_bytes()))
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "bad.tngv"), str(tmp_path / "out.mp4")]) == EXIT_ERROR
    assert message in _error_line(capsys)
    assert not (tmp_path / "out.mp4").exists()


def test_a_source_that_breaks_midway_leaves_no_output(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clip / "001.png").write_bytes(b"not a png")
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == EXIT_ERROR
    assert "001.png" in _error_line(capsys)
    assert not list(tmp_path.glob("a.tngv*"))


def test_outputs_are_not_overwritten_unless_asked(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == EXIT_ERROR
    assert "--overwrite" in _error_line(capsys)
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--overwrite", "--quality", "1"]) == 0
    (tmp_path / "out.mp4").write_bytes(b"keep me")
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out.mp4")]) == EXIT_ERROR
    assert (tmp_path / "out.mp4").read_bytes() == b"keep me"


def test_a_stream_for_other_weights_is_refused(models: Path, tmp_path: Path, clip: Path) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    header, frames = unpack_video((tmp_path / "a.tngv").read_bytes())
    other = VideoHeader(header.coder_id, ModelIdentity(header.model.model_id, bytes(8)), 47, 33, header.fps)
    with pytest.raises(BitstreamError, match="other weights"):
        open_tngv(pack_video(other, frames))


def test_info_describes_a_video_stream(models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "a.tngv")]) == 0
    out = capsys.readouterr().out
    assert "TNG video, 47x33, 25.000 fps" in out and "3 frames" in out and "frame types III" in out


def _stream(frame_count: int) -> bytes:
    header = VideoHeader(2, ModelIdentity(5, bytes(range(8))), 16, 16, Fraction(25))
    frame = CodedFrame(FrameType.INTRA, 2.5, LatentPayload(b"\1\2\3\4", (b"\5\6\7\10", b"")))
    return pack_video(header, [frame] * frame_count)


def test_container_round_trip_and_its_structural_checks() -> None:
    header, frames = unpack_video(_stream(2))
    assert header.fps == 25 and header.model.model_id == 5 and len(frames) == 2
    assert frames[1] == CodedFrame(FrameType.INTRA, 2.5, LatentPayload(b"\1\2\3\4", (b"\5\6\7\10", b"")))
    with pytest.raises(BitstreamError, match="no frames"):
        unpack_video(_stream(0))
    two = _stream(2)
    end = len(two) - 13  # the END chunk: 5-byte head, 4-byte count, 4-byte CRC
    with pytest.raises(BitstreamError, match="truncated"):
        unpack_video(two[:end])


def test_pictures_and_videos_point_to_each_others_decoder(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    assert main(["image", "encode", str(clip / "000.png"), str(tmp_path / "a.tng")]) == 0
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "a.tng"), str(tmp_path / "o.mp4")]) == EXIT_ERROR
    assert "image decode" in _error_line(capsys)
    assert main(["image", "decode", str(tmp_path / "a.tngv"), str(tmp_path / "o.png")]) == EXIT_ERROR
    assert "use 'tngvideo decode'" in _error_line(capsys)
