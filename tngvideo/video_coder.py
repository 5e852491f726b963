"""Stateful video encoder and decoder in PyAV's shape: ``encode(frame | None) -> units``,
``decode(unit | None) -> frames``.

Each owns a decoded-picture buffer (the reference frame and the frame count) and the GOP policy:
frame 0 and every ``gop``-th frame after it are I-frames, coded without the buffer; the others are
P-frames predicted from the previous decoded frame. There is no reordering, so ``None`` (flush)
returns nothing. Writing and reading files is :mod:`tngvideo.tng_video`'s concern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from tngvideo.bitstream import (
    BFLOAT16_VERSION,
    COMPACT_FRAME_VERSION,
    INDEX_ENTRY_BYTES,
    LATENT_GRID_VERSION,
    ONE_STREAM_VERSION,
    VIDEO_FORMAT_VERSION,
    CodedFrame,
    FrameType,
    VideoHeader,
    frame_bytes,
    index_and_end_bytes,
    padding_multiple_of,
    stored_quality,
    video_header_bytes,
)
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.codecs.inter_codec import Reference, StageTimes
from tngvideo.codecs.latent_refinement import refine_latents
from tngvideo.entropy.coder import CODER_ID, SymbolWriter
from tngvideo.errors import BitstreamError, InputError
from tngvideo.rate_control import BitrateController, quality_for_budget
from tngvideo.tng_inter import VideoModels

DEFAULT_GOP = 32
DEFAULT_INTER_QUALITY_OFFSET = 1.0  # P-frames a level below their I-frame: chosen on held-out training clips (docs/training.md, session 33)


@dataclass
class DecodedPictureBuffer:
    """What the next P-frame is predicted from: the last decoded frame, with the features its synthesis propagated
    (an I-frame is coded without it)."""

    reference: Reference | None = None
    frames: int = 0  # frames coded (or decoded) so far


@dataclass(frozen=True)
class GopPolicy:
    """Frame types and their qualities: an I-frame every ``gop`` frames (1: all-intra), P-frames between,
    coded at the I-frame's quality minus ``inter_quality_offset`` (as x264's ``ipratio``: a sharper
    reference serves every P-frame after it)."""

    gop: int = DEFAULT_GOP
    inter_quality_offset: float = DEFAULT_INTER_QUALITY_OFFSET

    def __post_init__(self) -> None:
        if self.gop < 1:
            raise InputError(f"GOP length must be at least 1, got {self.gop}")
        if not 0.0 <= self.inter_quality_offset < 9.0:
            raise InputError(f"the P-frame quality offset must be in [0, 9), got {self.inter_quality_offset:g}")

    def inter_quality(self, intra_quality: float, num_levels: int) -> float:
        """The quality of the P-frames of a GOP whose I-frame has ``intra_quality``, within [1, num_levels]."""
        return max(1.0, min(intra_quality, float(num_levels)) - self.inter_quality_offset)

    def frame_type(self, index: int) -> FrameType:
        return FrameType.INTRA if index % self.gop == 0 else FrameType.INTER

    def frames_after(self, index: int) -> int:
        """How many later frames of frame ``index``'s GOP are P-frames predicted, through a chain, from it (a clip's
        last GOP may end sooner: the encoder streams, and does not know where the clip ends)."""
        return self.gop - 1 - index % self.gop


@dataclass(frozen=True)
class EncodedUnit:
    """One coded frame: its unit bytes and the picture every decoder will produce for it."""

    frame: CodedFrame
    data: bytes
    reconstruction: np.ndarray = field(repr=False)

    @property
    def frame_type(self) -> FrameType:
        return self.frame.frame_type

    @property
    def quality(self) -> float:
        return self.frame.quality


class VideoEncoder:
    """Codes frames one at a time at a fixed quality or under a :class:`BitrateController`.

    With a bitrate target, each I-frame takes the highest quality its budget allows and the P-frames
    of its GOP that quality minus the GOP policy's offset (the controller's reservoir absorbs what they
    save or overspend).

    ``version``: the format version whose frame layout the units take, the current one unless a test writes
    version 6's (frames padded to 64 pixels), 5's (a FRAME chunk) or 4's (a stream per section).
    """

    def __init__(self, models: VideoModels, rate: float | BitrateController, gop: GopPolicy = GopPolicy(),
                 settings: EncoderSettings = EncoderSettings(), times: StageTimes | None = None,
                 version: int = VIDEO_FORMAT_VERSION):
        if gop.gop > 1 and models.inter is None:
            raise InputError("P-frames need an inter model (or use a GOP of 1: all-intra)")
        if version not in (BFLOAT16_VERSION, ONE_STREAM_VERSION, COMPACT_FRAME_VERSION, LATENT_GRID_VERSION):
            raise ValueError(f"cannot write .tngv frames of format version {version}")  # (this build's pixels' layouts)
        self.version = version
        self.one_stream = version >= ONE_STREAM_VERSION  # else one stream per section (version 4's layout)
        self.multiple = padding_multiple_of(version)
        self.models = models
        self.rate = rate
        self.gop = gop
        self.settings = settings
        self.times = times  # P-frame stage times (benchmarks)
        self.buffer = DecodedPictureBuffer()
        self._gop_quality = 0.0
        self.frames_over_budget = 0
        # Bytes of an I-frame unit besides its entropy-coded bytes (its framing, in the old layouts the FRAME and
        # section chunks) and its INDEX entry; a compact unit's length field takes 1 more byte from 128 bytes on and
        # its stream ~1.5 bytes less than its whole words: within a few bytes of any budget.
        passes = models.intra.codec.num_passes
        empty = CodedFrame(FrameType.INTRA, 1.0, (passes,), (b"",) * (1 if self.one_stream else 1 + passes))
        self._intra_overhead = len(frame_bytes(empty, version)) + INDEX_ENTRY_BYTES
        if isinstance(rate, BitrateController):  # the stream's header and trailer count against the bitrate too
            header = VideoHeader(CODER_ID, models.table(), 1, 1, Fraction(1), version, models.passes())
            rate.charge(len(video_header_bytes(header)) + len(index_and_end_bytes(0, [], 0)))

    def encode(self, frame: np.ndarray | None) -> list[EncodedUnit]:
        """Code ``frame`` (HxWx3 uint8); ``None`` flushes (nothing is delayed, so nothing comes out)."""
        if frame is None:
            return []
        if self.gop.frame_type(self.buffer.frames) == FrameType.INTRA:
            unit, reference = self._encode_intra(frame)
        else:
            unit, reference = self._encode_inter(frame)
        if isinstance(self.rate, BitrateController):
            index_entry = INDEX_ENTRY_BYTES if unit.frame_type == FrameType.INTRA else 0
            self.rate.spent(len(unit.data) + index_entry)
        self.buffer.reference = reference
        self.buffer.frames += 1
        return [unit]

    def _encode_intra(self, frame: np.ndarray) -> tuple[EncodedUnit, Reference]:
        codec = self.models.intra.codec
        picture = codec.analyse(frame, multiple=self.multiple)
        if isinstance(self.rate, BitrateController):
            quality, fits = quality_for_budget(codec, picture, self.rate.next_budget_bytes() - self._intra_overhead,
                                               one_stream=self.one_stream)
            self.frames_over_budget += not fits
        else:
            quality = self.rate
        quality = stored_quality(quality, self.version)  # code with exactly what the decoder reads
        picture = refine_latents(codec, frame, picture, quality, self.settings.refine_steps)
        encoded = codec.encode_analysed(picture, quality)
        self._gop_quality = quality
        coded = self._frame(FrameType.INTRA, quality, (codec.num_passes,), encoded.symbols)
        unit = EncodedUnit(coded, frame_bytes(coded, self.version), encoded.reconstruction)
        return unit, Reference(encoded.reconstruction, multiple=self.multiple)

    def _encode_inter(self, frame: np.ndarray) -> tuple[EncodedUnit, Reference]:
        assert self.models.inter is not None and self.buffer.reference is not None  # checked in __init__ / frame 0
        codec = self.models.inter.codec
        quality = stored_quality(self.gop.inter_quality(self._gop_quality, codec.num_levels), self.version)
        encoded = codec.encode(self.buffer.reference, frame, quality, self.settings, self.times,
                               frames_after=self.gop.frames_after(self.buffer.frames))
        with (self.times or StageTimes()).stage("entropy coding"):
            coded = self._frame(FrameType.INTER, quality, codec.passes, encoded.symbols)
        return EncodedUnit(coded, frame_bytes(coded, self.version), encoded.reconstruction), encoded.next_reference

    def _frame(self, frame_type: FrameType, quality: float, passes: tuple[int, ...], symbols: SymbolWriter
               ) -> CodedFrame:
        """The symbols entropy-coded as the version lays them out: one stream, or one per section."""
        return CodedFrame(frame_type, quality, passes,
                          (symbols.stream(),) if self.one_stream else tuple(symbols.sections()))


class VideoDecoder:
    """Decodes the frame units of one stream, in order, from any I-frame on."""

    def __init__(self, header: VideoHeader, models: VideoModels, times: StageTimes | None = None):
        self.header = header
        self.models = models
        self.times = times  # P-frame stage times (benchmarks)
        self.buffer = DecodedPictureBuffer()

    def decode(self, frame: CodedFrame | None) -> list[np.ndarray]:
        """The picture of ``frame`` (equal to the encoder's reconstruction); ``None`` flushes (nothing)."""
        if frame is None:
            return []
        header = self.header
        reader = frame.reader(header.coder_id)
        if frame.frame_type == FrameType.INTRA:
            picture = self.models.intra.codec.decode_from(reader, header.height, header.width, frame.quality,
                                                          header.reconstruction, header.padding_multiple)
            reference = Reference(picture, multiple=header.padding_multiple)
        else:
            if self.buffer.reference is None:
                raise BitstreamError("a P-frame without a reference: decoding must start at an I-frame")
            if self.models.inter is None:
                raise BitstreamError("a P-frame in a stream without an inter model")
            reference = self.models.inter.codec.decode(self.buffer.reference, reader, frame.quality, self.times,
                                                       header.reconstruction)
        reader.finish()
        self.buffer.reference = reference
        self.buffer.frames += 1
        return [reference.picture]
