"""Failures a user can cause, end to end: one typed error and one documented exit code each, one line
on stderr (a traceback only with --debug); interrupted runs (a real SIGINT or SIGTERM) and failed runs
leave nothing under the output name; an existing output is never replaced without --overwrite."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tngvideo.info
from tngvideo import errors
from tngvideo.cli import (
    EXIT_BITSTREAM,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_TERMINATED,
    EXIT_USAGE,
    main,
)
from tngvideo.io import open_video, open_writer
from tngvideo.io.writers import FrameWriter

Frames = Callable[..., list[np.ndarray]]
README = Path(__file__).parents[1] / "README.md"
PARTIAL_GLOB = "*.part"


def _error_lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.startswith("tngvideo: ")], err


def _one_error(capsys: pytest.CaptureFixture[str], fragment: str) -> str:
    lines, err = _error_lines(capsys)
    errors_ = [line for line in lines if not line.startswith("tngvideo: warning:")]
    assert len(errors_) == 1 and fragment in errors_[0], err
    assert "Traceback" not in err
    return errors_[0]


def _png(path: Path, size: tuple[int, int] = (40, 24)) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


# --- typed errors and exit codes --------------------------------------------------------------------


def test_every_error_type_has_its_own_exit_code_and_the_readme_lists_them() -> None:
    typed = [errors.UsageError, errors.InputError, errors.BitstreamError, errors.ModelError, errors.OutputError]
    codes = [kind.exit_code for kind in typed] + [EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED]
    assert len(set(codes)) == len(codes) and 0 not in codes
    table = README.read_text()
    for code, name in [*((kind.exit_code, kind.__name__) for kind in typed), (EXIT_INTERRUPTED, "SIGINT"),
                       (EXIT_TERMINATED, "SIGTERM"), (EXIT_INTERNAL, "--debug")]:
        assert re.search(rf"^\| {code} \|.*{name}", table, re.MULTILINE), f"README lists no exit code {code} ({name})"


def test_a_bad_command_line_is_one_line_and_the_usage_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode"]) == EXIT_USAGE
    _one_error(capsys, "the following arguments are required")
    assert main(["image", "encode", "a.png", "b.tng", "--quality", "high"]) == EXIT_USAGE
    _one_error(capsys, "invalid float value")
    assert main(["--help"]) == 0


def test_option_values_out_of_range_are_usage_errors(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    picture = _png(tmp_path / "in.png")
    assert main(["image", "encode", str(picture), str(tmp_path / "a.tng"), "--quality", "99"]) == EXIT_USAGE
    _one_error(capsys, "--quality must be between 1 and")
    assert main(["encode", str(picture), str(tmp_path / "a.tngv"), "--frames", "0"]) == EXIT_USAGE
    _one_error(capsys, "--frames must be at least 1")
    assert not list(tmp_path.glob("a.*"))


def test_a_bug_is_one_line_and_its_traceback_shows_only_with_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(path: Path) -> str:
        raise RuntimeError("unexpected state\nsecond line")

    monkeypatch.setattr(tngvideo.info, "describe", broken)
    target = _png(tmp_path / "in.png")
    assert main(["info", str(target)]) == EXIT_INTERNAL
    lines, err = _error_lines(capsys)
    expected = ("tngvideo: internal error: RuntimeError: unexpected state (please report it; run with "
                "'tngvideo --debug' for the traceback)")
    assert lines == [expected] and "Traceback" not in err
    for argv in (["--debug", "info", str(target)], ["info", str(target), "--debug"]):
        assert main(argv) == EXIT_INTERNAL
        lines, err = _error_lines(capsys)
        assert "Traceback" in err and "RuntimeError: unexpected state" in err and len(lines) == 1


def test_a_typed_error_shows_its_traceback_with_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.tngv").write_bytes(b"\x89TNV\x09rest")
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "o.y4m")]) == EXIT_BITSTREAM
    assert "Traceback" not in capsys.readouterr().err
    assert main(["--debug", "decode", str(tmp_path / "a.tngv"), str(tmp_path / "o.y4m")]) == EXIT_BITSTREAM
    err = capsys.readouterr().err
    assert "Traceback" in err and "tngvideo: error: unsupported .tngv format version 9" in err


def test_a_large_file_of_another_kind_is_refused_by_its_magic_without_being_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "huge.tngv"
    with open(big, "wb") as handle:
        handle.truncate(8 << 30)  # 8 GB, sparse: reading it whole would need 8 GB of memory
    started = time.perf_counter()
    assert main(["decode", str(big), str(tmp_path / "o.y4m")]) == EXIT_BITSTREAM
    assert time.perf_counter() - started < 5
    _one_error(capsys, "not a .tngv file (bad magic)")
    assert main(["image", "decode", str(tmp_path), str(tmp_path / "o.png")]) == EXIT_INPUT
    _one_error(capsys, "is a folder")


# --- inputs through the command -------------------------------------------------------------------


def test_encoding_a_clip_with_a_corrupt_packet_warns_once_with_the_frame(
    models: Path, tmp_path: Path, damaged_clip: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    clip = damaged_clip(tmp_path / "bad.mp4", (5,))
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--gop", "1"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.replace("\r", "\n").splitlines() if line.startswith("tngvideo: ")]
    assert len(lines) == 1 and re.search(r"warning: .*bad\.mp4: frame 5 (is damaged|could not be decoded)", lines[0])
    assert "12 frames" in captured.out
    assert "error while decoding" not in captured.err  # ffmpeg's own log lines are off


def test_inputs_that_cannot_be_coded_are_one_line_input_errors_and_write_nothing(
    models: Path, tmp_path: Path, smooth_frames: Frames, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no frames here")
    (tmp_path / "empty" / "licence.txt").write_text("nor here")
    audio = tmp_path / "tone.wav"
    import av

    with av.open(str(audio), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    for source, fragment in ((audio, "has no video stream"), (tmp_path / "empty", "no image frames")):
        assert main(["encode", str(source), str(tmp_path / "out.tngv")]) == EXIT_INPUT
        _one_error(capsys, fragment)
    assert not list(tmp_path.glob("out.tngv*"))


# --- interrupted and failed runs ------------------------------------------------------------------


def _long_clip(path: Path, smooth_frames: Frames, count: int = 600) -> Path:
    """A 128x96 clip of a moving picture, long enough (~25 s to encode with the tiny models) to be mid-encode."""
    base = smooth_frames(96, 128, count=1)[0]
    with open_writer(path, 128, 96, Fraction(25), crf=30) as writer:
        for t in range(count):
            writer.write(np.roll(base, 2 * t, axis=1))
    return path


@pytest.mark.parametrize(("signum", "code", "word"), [(signal.SIGINT, EXIT_INTERRUPTED, "interrupted"),
                                                       (signal.SIGTERM, EXIT_TERMINATED, "terminated")])
def test_a_signal_mid_encode_leaves_no_output_and_no_partial_file(
    inter_models: Path, tmp_path: Path, smooth_frames: Frames, signum: int, code: int, word: str
) -> None:
    clip = _long_clip(tmp_path / "clip.mp4", smooth_frames)
    output = tmp_path / "out" / "clip.tngv"
    output.parent.mkdir()
    env = {**os.environ, "TNGVIDEO_MODELS": str(inter_models), "OMP_NUM_THREADS": "1"}
    # Python's SIGINT handler in the child even when this test runs as a background job (`cmd &`), which starts
    # with SIGINT ignored: the child would inherit that, install no handler, and encode to the end.
    start = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    command = [sys.executable, "-c", start + "from tngvideo.cli import console_main; console_main()",
               "encode", str(clip), str(output), "--gop", "8"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not any(p.stat().st_size > 0 for p in output.parent.glob(PARTIAL_GLOB)):  # frames are being written
            assert process.poll() is None, f"encode ended before it could be interrupted: {process.communicate()}"
            assert time.monotonic() < deadline, "the encode did not start writing"
            time.sleep(0.05)
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, err
    assert list(output.parent.iterdir()) == []  # neither the output nor its partial file
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("tngvideo:")]
    assert lines == [f"tngvideo: {word} ({signal.Signals(signum).name}): no incomplete output is left"], err
    assert "Traceback" not in err


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, frames: int, raise_: Callable[[], None]) -> None:
    """The FrameWriter's ``frames``+1-th write raises (as a signal would, mid-decode)."""
    real = FrameWriter.write

    def write(self: FrameWriter, frame: np.ndarray) -> None:
        if self.frames_written == frames:
            raise_()
        real(self, frame)

    monkeypatch.setattr(FrameWriter, "write", write)


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler turns it into Terminated right here
    time.sleep(1)


def _keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def _bitstream_error() -> None:
    raise errors.BitstreamError("frame 1: entropy decoding failed")


def _encode_png_clip(tmp_path: Path, smooth_frames: Frames, count: int) -> None:
    """``tmp_path/a.tngv``: ``count`` small frames, all-intra (the decodes below interrupt it)."""
    folder = tmp_path / "pngs"
    folder.mkdir()
    for index, frame in enumerate(smooth_frames(24, 32, count=count)):
        Image.fromarray(frame).save(folder / f"{index}.png")
    assert main(["encode", str(folder), str(tmp_path / "a.tngv"), "--gop", "1"]) == 0


@pytest.mark.parametrize("name", ["out.mp4", "out.y4m", "frames"])
@pytest.mark.parametrize(("stop", "code"), [(_keyboard_interrupt, EXIT_INTERRUPTED), (_sigterm, EXIT_TERMINATED)])
def test_an_interrupted_decode_writes_nothing_and_keeps_what_was_there(
    models: Path, tmp_path: Path, smooth_frames: Frames, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], name: str, stop: Callable[[], None], code: int,
) -> None:
    _encode_png_clip(tmp_path, smooth_frames, 4)
    target = tmp_path / "decoded"
    target.mkdir()
    _interrupt_after(monkeypatch, 2, stop)
    assert main(["decode", str(tmp_path / "a.tngv"), str(target / name)]) == code
    assert list(target.iterdir()) == []
    # an existing output, asked to be replaced, survives an interrupted replacement
    if name != "frames":
        (target / name).write_bytes(b"the previous output")
        assert main(["decode", str(tmp_path / "a.tngv"), str(target / name), "--overwrite"]) == code
        assert (target / name).read_bytes() == b"the previous output"
        assert sorted(p.name for p in target.iterdir()) == [name]
    capsys.readouterr()


def test_a_stream_that_fails_mid_decode_writes_nothing(
    models: Path, tmp_path: Path, smooth_frames: Frames, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _encode_png_clip(tmp_path, smooth_frames, 3)
    _interrupt_after(monkeypatch, 1, _bitstream_error)
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out.mp4")]) == EXIT_BITSTREAM
    _one_error(capsys, "frame 1: entropy decoding failed")
    assert not list(tmp_path.glob("out.mp4*"))


# --- atomic, non-destructive outputs --------------------------------------------------------------


def test_outputs_get_the_usual_file_mode(models: Path, tmp_path: Path) -> None:
    picture = _png(tmp_path / "in.png")
    assert main(["image", "encode", str(picture), str(tmp_path / "a.tng")]) == 0
    assert main(["image", "decode", str(tmp_path / "a.tng"), str(tmp_path / "b.png")]) == 0
    umask = os.umask(0)
    os.umask(umask)
    for name in ("a.tng", "b.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask


def test_image_outputs_are_never_replaced_without_overwrite(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = _png(tmp_path / "in.png")
    assert main(["image", "encode", str(picture), str(tmp_path / "a.tng")]) == 0
    (tmp_path / "b.png").write_bytes(b"keep me")
    assert main(["image", "decode", str(tmp_path / "a.tng"), str(tmp_path / "b.png")]) == EXIT_OUTPUT
    _one_error(capsys, "already exists")
    assert (tmp_path / "b.png").read_bytes() == b"keep me"
    assert main(["image", "decode", str(tmp_path / "a.tng"), str(tmp_path / "b.png"), "--overwrite"]) == 0
    assert open_video(tmp_path / "b.png").info.width == 40
    assert not list(tmp_path.glob(PARTIAL_GLOB))


def test_evaluation_reports_are_never_replaced_without_overwrite(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    _png(pictures / "p0.png")
    command = ["image", "eval", str(pictures), "--qualities", "1", "3", "--out", str(tmp_path / "report")]
    assert main(command) == 0
    written = {p.name: p.read_bytes() for p in (tmp_path / "report").iterdir()}
    assert set(written) == {"rd.json", "rd.png", "per_image.json", "per_image.csv"}
    assert main(command) == EXIT_OUTPUT
    _one_error(capsys, "holds the reports of an earlier run")
    assert {p.name: p.read_bytes() for p in (tmp_path / "report").iterdir()} == written
    assert main([*command, "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(written)  # no partial files left


def test_a_png_folder_output_replaces_only_its_frames_and_only_when_complete(tmp_path: Path, smooth_frames: Frames) -> None:
    target = tmp_path / "frames"
    target.mkdir()
    (target / "000000.png").write_bytes(b"old frame")
    (target / "notes.txt").write_text("mine")
    frames = smooth_frames(8, 8, count=2)
    writer = open_writer(target, 8, 8, Fraction(25), overwrite=True)
    writer.write(frames[0])
    assert (target / "000000.png").read_bytes() == b"old frame"  # nothing replaced before close
    writer.write(frames[1])
    writer.close()
    assert sorted(p.name for p in target.iterdir()) == ["000000.png", "000001.png", "notes.txt"]
    assert not list(tmp_path.glob(PARTIAL_GLOB))
    with pytest.raises(errors.OutputError, match="not empty"):
        open_writer(target, 8, 8, Fraction(25))


def test_an_output_that_appears_while_writing_is_not_replaced(tmp_path: Path, smooth_frames: Frames) -> None:
    path = tmp_path / "clip.y4m"
    writer = open_writer(path, 8, 8, Fraction(25))
    writer.write(smooth_frames(8, 8, count=1)[0])
    path.write_bytes(b"someone else's file")
    with pytest.raises(errors.OutputError, match="appeared while it was being written"):
        writer.close()
    assert path.read_bytes() == b"someone else's file"
    assert not list(tmp_path.glob(PARTIAL_GLOB))


def _png_header_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (8-bit RGB) and which holds no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def test_a_huge_picture_is_refused_by_its_header_with_its_size_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = _png_header_claiming(tmp_path / "huge.png", 20000, 20000)
    assert main(["image", "encode", str(huge), str(tmp_path / "out.tng")]) == EXIT_INPUT
    _one_error(capsys, "20000x20000")
    assert not list(tmp_path.glob("out*"))
