"""Writing and reading .tngv files with the stateful coder of :mod:`tngvideo.video_coder`.

Encoding streams the source frame by frame (any clip length fits in memory) and the output file
appears under its name only once complete (:mod:`tngvideo.io.atomic`: an interrupted encode leaves
nothing); decoding verifies the whole file (every checksum, the model table, the I-frame index, every
frame's plausibility: :mod:`tngvideo.plausibility`) before the first frame is produced, and can start
at any GOP.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tngvideo.bitstream import (
    COMPACT_FRAME_VERSION,
    VIDEO_FORMAT_VERSION,
    CodedFrame,
    FrameType,
    VideoHeader,
    index_and_end_bytes,
    unpack_video,
    video_header_bytes,
)
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.entropy.coder import CODER_ID
from tngvideo.errors import InputError
from tngvideo.io.atomic import atomic_output
from tngvideo.io.frames import VideoSource
from tngvideo.plausibility import check_video
from tngvideo.rate_control import BitrateController
from tngvideo.tng_inter import VideoModels, models_for_stream
from tngvideo.video_coder import EncodedUnit, GopPolicy, VideoDecoder, VideoEncoder


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
    frames_over_budget: int  # with a bitrate target: I-frames larger than their budget even at quality 1
    intra_frames: int
    intra_bytes: int  # bytes of the I-frame units (the rest of the frame bytes are P-frames')

    @property
    def bits_per_pixel(self) -> float:
        return 8 * self.num_bytes / (self.frames * self.width * self.height)

    @property
    def kilobits_per_second(self) -> float:
        return 8 * self.num_bytes * float(self.fps) / self.frames / 1000


def encode_video(
    source: VideoSource,
    output: Path,
    models: VideoModels,
    rate: float | BitrateController,
    gop: GopPolicy | None = None,
    max_frames: int | None = None,
    start: int = 0,
    progress: bool = False,
    settings: EncoderSettings = EncoderSettings(),
    on_unit: Callable[[int, np.ndarray, EncodedUnit], None] | None = None,
    overwrite: bool = True,
    version: int = VIDEO_FORMAT_VERSION,
) -> VideoSummary:
    """Code ``source`` (``max_frames`` frames from frame ``start``) into the .tngv file ``output`` with
    :class:`VideoEncoder`; ``on_unit(index, source frame, unit)`` sees every coded frame (evaluation);
    ``version``: the format version written, the current one unless a comparison measures an earlier one (from
    version 6, the compact frame units this writer streams).

    Written to a partial file beside ``output`` and renamed when complete, so a failure or an
    interruption (SIGINT, SIGTERM) never leaves a file under the requested name; without
    ``overwrite`` an existing ``output`` is refused (before any work) and never replaced.
    """
    info = source.info
    if version < COMPACT_FRAME_VERSION:
        raise ValueError(f"the streaming writer writes format versions {COMPACT_FRAME_VERSION} on, not {version}")
    encoder = VideoEncoder(models, rate, gop or GopPolicy(), settings=settings, version=version)
    header = VideoHeader(CODER_ID, models.table(), info.width, info.height, info.fps, version, models.passes())
    available = max((info.frame_count or 0) - start, 0) or None
    total = min(available, max_frames) if available and max_frames else (available or max_frames)
    frames = islice(source.frames(), start, start + max_frames if max_frames else None)
    bar = tqdm(total=total, unit="frame", file=sys.stderr, disable=not progress)
    qualities: list[float] = []
    intra_frames: list[tuple[int, int]] = []
    intra_bytes = 0
    with atomic_output(output, overwrite) as partial, open(partial, "wb") as handle, bar:
        offset = handle.write(video_header_bytes(header))
        for frame in frames:
            for unit in encoder.encode(frame):
                if unit.frame_type == FrameType.INTRA:
                    intra_frames.append((len(qualities), offset))
                    intra_bytes += len(unit.data)
                offset += handle.write(unit.data)
                if on_unit is not None:
                    on_unit(len(qualities), frame, unit)
                qualities.append(unit.quality)
                bar.update(1)
                bar.set_postfix(bpp=f"{8 * offset / (len(qualities) * info.width * info.height):.3f}")
        if not qualities:
            raise InputError(f"{source.path}: no frames to encode")
        size = offset + handle.write(index_and_end_bytes(len(qualities), intra_frames, offset))
    return VideoSummary(len(qualities), size, info.width, info.height, info.fps, min(qualities), max(qualities),
                        encoder.frames_over_budget, len(intra_frames), intra_bytes)


@dataclass(frozen=True)
class DecodedVideo:
    """A verified .tngv stream; ``frames()`` decodes it frame by frame."""

    header: VideoHeader
    coded_frames: list[CodedFrame]
    models: VideoModels

    @property
    def gop_starts(self) -> list[int]:
        """The frame number of every I-frame (where decoding can start)."""
        return [i for i, frame in enumerate(self.coded_frames) if frame.frame_type == FrameType.INTRA]

    def frames(self, start_gop: int = 0) -> Iterator[np.ndarray]:
        """Decoded frames from the ``start_gop``-th GOP (0-based) to the end."""
        starts = self.gop_starts
        if not 0 <= start_gop < len(starts):
            raise InputError(f"the stream has {len(starts)} GOPs (0..{len(starts) - 1}), asked for GOP {start_gop}")
        decoder = VideoDecoder(self.header, self.models)
        for frame in self.coded_frames[starts[start_gop]:]:
            yield from decoder.decode(frame)


def open_tngv(data: bytes, models: VideoModels | None = None, models_dir: Path | None = None) -> DecodedVideo:
    """Verify a .tngv file (structure, checksums, coder, weights, every frame plausible for the models:
    :mod:`tngvideo.plausibility`) and get ready to decode it."""
    header, coded_frames = unpack_video(data)
    models = models_for_stream(header, models, models_dir)
    check_video(header, coded_frames, models.intra.codec, models.inter.codec if models.inter else None)
    return DecodedVideo(header, coded_frames, models)
