"""Shared fixtures: synthetic frames and clips made inside each test, so no media is shipped for them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from tiny_model import write_tiny_inter_model, write_tiny_models_dir

from tngvideo.paths import MODELS_ENV_VAR

DATA_DIR = Path(__file__).parent / "data"


def _smooth_frames(height: int, width: int, count: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Moving colour gradients: natural-image-like, so lossy coding keeps a high PSNR."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 3)
    frames = []
    for t in range(count):
        channels = [127.5 + 100 * np.sin(2 * np.pi * (x / 53 + y / 71) + phase[c] + 0.3 * t + c) for c in range(3)]
        frames.append(np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8))
    return frames


def _write_planes_clip(
    path: Path,
    frames: Sequence[Sequence[np.ndarray]],
    pix_fmt: str,
    *,
    codec: str = "libx264",
    options: Mapping[str, str] | None = None,
    colorspace: int | None = None,
    color_range: int | None = None,
    fps: Fraction = Fraction(25),
) -> Path:
    """Encode exact planes (uint8 or uint16 per ``pix_fmt``) with optional colour tags.

    The default is lossless libx264 (qp 0), so decoded planes equal the given ones.
    """
    height, width = frames[0][0].shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = dict(options if options is not None else {"qp": "0"})
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        if color_range is not None:
            stream.codec_context.color_range = color_range
        for index, planes in enumerate(frames):
            frame = av.VideoFrame(width, height, pix_fmt)
            for target, source in zip(frame.planes, planes, strict=True):
                rows = np.zeros((target.height, target.line_size // source.itemsize), dtype=source.dtype)
                rows[:, : source.shape[1]] = source
                target.update(rows.tobytes())
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _damaged_clip(path: Path, damaged: tuple[int, ...], count: int = 12) -> Path:
    """A 96x64 H.264 mp4 (no B-frames, one I-frame) whose packets ``damaged`` have their slice data scrambled."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "20", "g": "100", "bframes": "0"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for index, frame in enumerate(_smooth_frames(64, 96, count=count)):
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video.pts = index
            container.mux(stream.encode(video))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        packets = [(packet.pos, packet.size) for packet in container.demux(video=0) if packet.size]
    data = bytearray(path.read_bytes())
    for index in damaged:
        position, size = packets[index]
        for byte in range(position + 8, position + size, 3):
            data[byte] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def damaged_clip() -> Callable[..., Path]:
    """``damaged_clip(path, damaged_packet_indexes, count=12)`` -> an mp4 with corrupt packets (see tests/test_io.py)."""
    return _damaged_clip


@pytest.fixture
def smooth_frames() -> Callable[..., list[np.ndarray]]:
    """``smooth_frames(height, width, count=3, seed=0)`` -> list of HxWx3 uint8 RGB frames."""
    return _smooth_frames


@pytest.fixture
def write_planes_clip() -> Callable[..., Path]:
    """``write_planes_clip(path, [(y, cb, cr), ...], pix_fmt, codec=..., colorspace=..., ...)`` -> path."""
    return _write_planes_clip


@pytest.fixture
def sample_clip() -> Path:
    """The shipped real clip (see tests/data/README.md)."""
    return DATA_DIR / "sample_foreman_qcif.mp4"


@pytest.fixture()
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder holding one tiny image model, made the one the CLI and loaders use."""
    folder = tmp_path / "models"
    write_tiny_models_dir(folder)
    monkeypatch.setenv(MODELS_ENV_VAR, str(folder))
    return folder


@pytest.fixture(params=["none", "checkerboard", "checkerboard+propagation", "checkerboard+bicubic"])
def inter_models(models: Path, request: pytest.FixtureRequest) -> Path:
    """The ``models`` folder with a tiny inter model too (made with the tiny image model): P-frames on;
    every test runs with one-pass latent codecs, with two-pass (checkerboard) ones, with two-pass ones
    whose P-frames also pass features to the next, and with two-pass ones that predict by bicubic warping."""
    context, _, variant = request.param.partition("+")
    write_tiny_inter_model(models, context=context, propagated_channels=4 if variant == "propagation" else 0,  # type: ignore[arg-type]
                           warp_interpolation="bicubic" if variant == "bicubic" else "bilinear")
    return models
