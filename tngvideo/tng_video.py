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
from tngvideo.codecs.image_codec import AnalysedPicture, LatentPayload
from tngvideo.codecs.latent_refinement import refine_latents
from tngvideo.entropy.coder import CODER_ID
from tngvideo.errors import InputError, OutputError
from tngvideo.io.frames import VideoSource
from tngvideo.rate_control import BitrateController, as_float32, quality_for_budget
from tngvideo.tng_image import LoadedImageCodec, codec_for_stream

PARTIAL_SUFFIX = ".part"


@dataclass(frozen=True)
class EncodedFrame:
    """One frame's bytes in a .tngv stream and the picture the decoder will produce for it."""

    unit: bytes
    quality: float
    reconstruction: np.ndarray


def encode_intra_frame(picture: AnalysedPicture, quality: float, loaded: LoadedImageCodec) -> EncodedFrame:
    """Code one frame, analysed once by ``loaded.codec.analyse`` (so callers can try several
    qualities), as an I-frame unit."""
    quality = as_float32(quality)  # stored as float32: code with exactly what the decoder reads
    encoded = loaded.codec.encode_analysed(picture, quality)
    return EncodedFrame(frame_bytes(CodedFrame(FrameType.INTRA, quality, encoded.payload)), quality, encoded.reconstruction)


def intra_quality_within(picture: AnalysedPicture, max_bytes: int, loaded: LoadedImageCodec) -> tuple[float, bool]:
    """The highest quality whose I-frame unit fits ``max_bytes`` (``fits`` False: quality 1, larger)."""
    codec = loaded.codec
    overhead = len(frame_bytes(CodedFrame(FrameType.INTRA, 1.0, LatentPayload(b"", (b"",) * codec.num_passes))))
    return quality_for_budget(codec, picture, max_bytes - overhead)


@dataclass(frozen=True)
class VideoSummary:
    """What an encode produced (for the command's report line)."""

    frames: int
    num_bytes: int
    width: int
    height: int
    fps: Fraction
    lowest_quality: float
    highest_quality: float
    frames_over_budget: int  # with a bitrate target: frames larger than their budget even at quality 1

    @property
    def bits_per_pixel(self) -> float:
        return 8 * self.num_bytes / (self.frames * self.width * self.height)

    @property
    def kilobits_per_second(self) -> float:
        return 8 * self.num_bytes * float(self.fps) / self.frames / 1000


def encode_video(
    source: VideoSource,
    output: Path,
    loaded: LoadedImageCodec,
    rate: float | BitrateController,
    max_frames: int | None = None,
    progress: bool = False,
    refine_steps: int = 0,
) -> VideoSummary:
    """Code ``source`` (its first ``max_frames`` frames) into the .tngv file ``output``, at a fixed
    quality or, given a :class:`BitrateController`, at the highest quality each frame's budget allows
    (searched before refinement; the bit reservoir absorbs what refinement saves).

    Written to ``output.part`` and renamed when complete, so a failure never leaves a
    truncated file under the requested name.
    """
    info = source.info
    header = VideoHeader(CODER_ID, loaded.identity, info.width, info.height, info.fps)
    partial = output.with_name(output.name + PARTIAL_SUFFIX)
    total = min(info.frame_count or 0, max_frames or sys.maxsize) or None
    frames = tqdm(islice(source.frames(), max_frames), total=total, unit="frame", file=sys.stderr, disable=not progress)
    qualities: list[float] = []
    over_budget = 0
    try:
        with open(partial, "wb") as handle:
            handle.write(video_header_bytes(header))
            for frame in frames:
                picture = loaded.codec.analyse(frame)
                if isinstance(rate, BitrateController):
                    quality, fits = intra_quality_within(picture, rate.next_budget_bytes(), loaded)
                    over_budget += not fits
                else:
                    quality = rate
                picture = refine_latents(loaded.codec, frame, picture, quality, refine_steps)
                encoded = encode_intra_frame(picture, quality, loaded)
                if isinstance(rate, BitrateController):
                    rate.spent(len(encoded.unit))
                handle.write(encoded.unit)
                qualities.append(encoded.quality)
            if not qualities:
                raise InputError(f"{source.path}: no frames to encode")
            handle.write(end_bytes(len(qualities)))
        size = partial.stat().st_size
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{output}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return VideoSummary(len(qualities), size, info.width, info.height, info.fps, min(qualities), max(qualities), over_budget)


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
