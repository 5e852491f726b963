"""Video encoder and decoder objects: clips <-> .tngv streams.

For now every frame is an I-frame coded by the image model (all-intra); the container already
types each frame so P-frames can join without changing how I-frames are stored. Encoding streams
the source frame by frame (any clip length fits in memory) and the output file appears under its
name only once complete; decoding verifies the whole file before the first frame is produced.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tngvideo.bitstream import (
    CodedFrame,
    FrameType,
    VideoHeader,
    end_bytes,
    frame_bytes,
    unpack_video,
    video_header_bytes,
)
from tngvideo.entropy.coder import CODER_ID
from tngvideo.errors import InputError, OutputError
from tngvideo.io.frames import VideoSource
from tngvideo.tng_image import LoadedImageCodec, codec_for_stream

PARTIAL_SUFFIX = ".part"


@dataclass(frozen=True)
class EncodedFrame:
    """One frame's bytes in a .tngv stream and the picture the decoder will produce for it."""

    unit: bytes
    reconstruction: np.ndarray


def encode_intra_frame(rgb: np.ndarray, quality: float, loaded: LoadedImageCodec) -> EncodedFrame:
    """Code one HxWx3 uint8 RGB frame as an I-frame unit."""
    quality = float(np.float32(quality))  # stored as float32: code with exactly what the decoder reads
    encoded = loaded.codec.encode(rgb, quality)
    unit = frame_bytes(CodedFrame(FrameType.INTRA, quality, encoded.payload))
    return EncodedFrame(unit, encoded.reconstruction)


@dataclass(frozen=True)
class VideoSummary:
    """What an encode produced (for the command's report line)."""

    frames: int
    num_bytes: int
    width: int
    height: int
    fps: Fraction

    @property
    def bits_per_pixel(self) -> float:
        return 8 * self.num_bytes / (self.frames * self.width * self.height)

    @property
    def kilobits_per_second(self) -> float:
        return 8 * self.num_bytes * float(self.fps) / self.frames / 1000


def encode_video(
    source: VideoSource,
    output: Path,
    quality: float,
    loaded: LoadedImageCodec,
    max_frames: int | None = None,
    progress: bool = False,
) -> VideoSummary:
    """Code ``source`` (its first ``max_frames`` frames) into the .tngv file ``output``.

    Written to ``output.part`` and renamed when complete, so a failure never leaves a
    truncated file under the requested name.
    """
    info = source.info
    header = VideoHeader(CODER_ID, loaded.identity, info.width, info.height, info.fps)
    partial = output.with_name(output.name + PARTIAL_SUFFIX)
    total = min(info.frame_count or 0, max_frames or sys.maxsize) or None
    frames = tqdm(islice(source.frames(), max_frames), total=total, unit="frame", file=sys.stderr, disable=not progress)
    count = 0
    try:
        with open(partial, "wb") as handle:
            handle.write(video_header_bytes(header))
            for frame in frames:
                handle.write(encode_intra_frame(frame, quality, loaded).unit)
                count += 1
            if count == 0:
                raise InputError(f"{source.path}: no frames to encode")
            handle.write(end_bytes(count))
        size = partial.stat().st_size
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{output}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return VideoSummary(count, size, info.width, info.height, info.fps)


@dataclass(frozen=True)
class DecodedVideo:
    """A verified .tngv stream; ``frames()`` decodes it frame by frame."""

    header: VideoHeader
    coded_frames: list[CodedFrame]
    loaded: LoadedImageCodec

    def frames(self) -> Iterator[np.ndarray]:
        header = self.header
        for frame in self.coded_frames:
            yield self.loaded.codec.decode(frame.payload, header.height, header.width, frame.quality, header.coder_id)


def open_tngv(data: bytes, loaded: LoadedImageCodec | None = None, models_dir: Path | None = None) -> DecodedVideo:
    """Verify a .tngv file (structure, checksums, coder, weights) and get ready to decode it."""
    header, coded_frames = unpack_video(data)
    return DecodedVideo(header, coded_frames, codec_for_stream(header.coder_id, header.model, loaded, models_dir))
