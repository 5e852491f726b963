"""The .tng (image) and .tngv (video) containers: the one module that reads and writes tngvideo bitstreams.

Layout (all integers little-endian; the spec with rationale is ``docs/bitstream.md``)::

    chunk   = u8 type | u32 length | payload | u32 crc32(type, length, payload)
    .tng    = header | HYPER chunk | LATENT chunk per coding pass (1, or 2 with checkerboard context), nothing after
      header  = magic "\\x89TNG" | u8 format_version (1: one LATENT chunk, 2 to 4: one or more) | u8 coder_id | u16 model_id
                | 8 bytes weights-sha256 prefix | u32 width | u32 height | f32 quality | u32 crc32(header)
    .tngv   = header | per frame: one frame unit | INDEX chunk | END chunk, nothing after   (format version 6)
      header  = magic "\\x89TNV" | u8 format_version | u8 coder_id | u32 width | u32 height | u32 fps numerator
                | u32 fps denominator | u8 model count | per model: u8 role, u16 model_id, 8 bytes weights-sha256
                prefix | u8 I-frame latent passes | u8 P-frame motion passes | u8 P-frame latent passes
                | u32 crc32(header)
      unit    = u8 kind (6 I-frame, 7 P-frame) | LEB128 length | u16 quality·1024 | stream | u32 crc32(unit)
                stream: one entropy-coder stream of every symbol, in decoding order ([P: motion hyper-latents,
                motion latent passes], hyper-latents, latent passes), its trailing zero bytes left out
    (format version 5, still read: the header without the passes; a frame is a FRAME chunk, u8 frame_type
     | f32 quality | u8 motion passes | u8 frame passes | stream, with the stream's whole last word: 16 bytes of
     framing a frame against version 6's 9, and ~1.5 bytes of zeros)
    (format versions 2 to 4, still read: the FRAME chunk holds the head alone, and each section follows as its
     own stream in its own HYPER or LATENT chunk: ~70 bytes more per P-frame, a fifth of a small one)
    (format version 1, still read: one intra model in the header, I-frames only, no INDEX)

Format versions 3 and 4 of both containers have version 2's layout; each changed how pixels are
reconstructed (:func:`reconstruction_of`: 3 overlapping tiles instead of the whole picture, 4 those tiles
in bfloat16), so older builds refuse them rather than decode slightly different pictures. Version 5 of
.tngv reconstructs as version 4 and packs each frame into one chunk and one stream (:func:`frame_bytes`);
version 6 gives that frame a compact head (its passes move to the header, its quality to 16 bits).

An I-frame codes exactly an image's symbols: in versions 1 to 4, its chunks are a .tng picture's.

Parsing trusts nothing: every length is checked against the bytes that remain before anything is
copied, every CRC before a payload is returned, and the picture size against MAX_DIMENSION and
MAX_PIXELS, so no claim in a header makes a reader allocate more than the file's own size. (Whether
the sections can hold the symbols the picture size implies needs the model's tables: see
:mod:`tngvideo.plausibility`, which decoders run before any tensor exists.)
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction

from tngvideo.codecs.image_model import ImageModelConfig
from tngvideo.codecs.latent_codec import LatentPayload
from tngvideo.codecs.tiling import LATENT_PIXELS, TILES, TILES_BF16, WHOLE_PICTURE, Reconstruction
from tngvideo.entropy.coder import SectionReader, StreamReader, SymbolReader
from tngvideo.errors import BitstreamError

IMAGE_MAGIC = b"\x89TNG"
FORMAT_VERSION = 5  # the newest version this build reads, and the one it writes
SINGLE_PASS_VERSION = 1  # one LATENT chunk only (the oldest version, still read)
TILED_VERSION = 3  # from this version on (.tng and .tngv alike), pixels are reconstructed in tiles
BFLOAT16_VERSION = 4  # from this version on, those tiles' convolutions run in bfloat16
IMAGE_LATENT_GRID_VERSION = 5  # .tng from this version on: pictures padded to 16 pixels (one latent), not the model's 64
HASH_PREFIX_BYTES = 8
MAX_DIMENSION = 1 << 16
# The largest picture (width x height) a file may hold: 8192x8192, above 8K UHD (7680x4320) and 61-Mpx photos.
# Decoding memory grows with the area (NOTES: ~1 GB per megapixel without tiled inference), so readers
# refuse larger claims outright.
MAX_PIXELS = 1 << 26
MAX_LATENT_CHUNKS = 8  # coding passes of one latent tensor

_IMAGE_HEADER = struct.Struct("<4sBBH8sIIf")
_CRC = struct.Struct("<I")
_CHUNK_HEAD = struct.Struct("<BI")


class ChunkType(IntEnum):
    HYPER = 1
    LATENT = 2
    FRAME = 3  # .tngv up to version 5: a frame (type, quality, latent passes; in version 5 also its one stream)
    END = 4  # .tngv: closes the file (frame count; from version 2: and the INDEX chunk's offset), so truncation is always detected
    INDEX = 5  # .tngv from version 2: every I-frame's number and byte offset, just before END
    INTRA_FRAME = 6  # .tngv from version 6: an I-frame's compact unit (see frame_bytes)
    INTER_FRAME = 7  # .tngv from version 6: a P-frame's compact unit


@dataclass(frozen=True)
class ModelIdentity:
    """Which weights a bitstream needs: stable manifest id and the first bytes of the file's sha256."""

    model_id: int
    weights_hash: bytes  # HASH_PREFIX_BYTES bytes

    @classmethod
    def from_sha256(cls, model_id: int, sha256_hex: str) -> ModelIdentity:
        return cls(model_id, bytes.fromhex(sha256_hex)[:HASH_PREFIX_BYTES])


@dataclass(frozen=True)
class ImageHeader:
    """Everything needed to decode a .tng file besides the payload."""

    coder_id: int
    model: ModelIdentity
    width: int
    height: int
    quality: float
    version: int = FORMAT_VERSION

    @property
    def reconstruction(self) -> Reconstruction:
        return reconstruction_of(self.version)

    @property
    def padding_multiple(self) -> int:
        """The picture is padded to a multiple of this many pixels: the model's stride (64) up to version 4, one
        latent (16) from version 5 (as .tngv frames from its version 7)."""
        return LATENT_PIXELS if self.version >= IMAGE_LATENT_GRID_VERSION else ImageModelConfig.STRIDE


def padding_multiple_of(video_version: int) -> int:
    """The multiple of pixels a .tngv stream of this version pads its frames to: the models' stride (64) up to
    version 6, which coded latents wholly in the padding too; one latent (16) from version 7."""
    return LATENT_PIXELS if video_version >= LATENT_GRID_VERSION else ImageModelConfig.STRIDE


def reconstruction_of(version: int) -> Reconstruction:
    """How a file of format ``version`` (either container) reconstructs pixels: see :mod:`tngvideo.codecs.tiling`."""
    if version >= BFLOAT16_VERSION:
        return TILES_BF16
    return TILES if version >= TILED_VERSION else WHOLE_PICTURE



def _with_crc(data: bytes) -> bytes:
    return data + _CRC.pack(zlib.crc32(data))


def write_chunk(chunk_type: int, payload: bytes) -> bytes:
    """One typed, length-prefixed, CRC-protected chunk."""
    return _with_crc(_CHUNK_HEAD.pack(chunk_type, len(payload)) + payload)


def read_chunk(data: bytes | memoryview, offset: int, expected_type: int) -> tuple[bytes, int]:
    """The payload of the chunk at ``offset`` (which must be of ``expected_type``) and the next offset."""
    view = memoryview(data)
    if offset + _CHUNK_HEAD.size > len(view):
        raise BitstreamError("file is truncated (missing chunk)")
    chunk_type, length = _CHUNK_HEAD.unpack_from(view, offset)
    end = offset + _CHUNK_HEAD.size + length
    if end + _CRC.size > len(view):
        raise BitstreamError("file is truncated (chunk shorter than its length)")
    (crc,) = _CRC.unpack_from(view, end)
    if zlib.crc32(view[offset:end]) != crc:
        raise BitstreamError("chunk checksum mismatch: the file is corrupt")
    if chunk_type != expected_type:
        raise BitstreamError(f"unexpected chunk type {chunk_type} (expected {expected_type})")
    return bytes(view[offset + _CHUNK_HEAD.size : end]), end + _CRC.size


def pack_image(header: ImageHeader, payload: LatentPayload) -> bytes:
    """Serialise a coded picture as a .tng file."""
    problem = picture_size_problem(header.width, header.height)
    if problem is not None:
        raise ValueError(problem)
    head = _IMAGE_HEADER.pack(
        IMAGE_MAGIC,
        FORMAT_VERSION,
        header.coder_id,
        header.model.model_id,
        header.model.weights_hash,
        header.width,
        header.height,
        header.quality,
    )
    return _with_crc(head) + _payload_chunks(payload)


def _payload_chunks(payload: LatentPayload) -> bytes:
    latents = b"".join(write_chunk(ChunkType.LATENT, section) for section in payload.latents)
    return write_chunk(ChunkType.HYPER, payload.hyper) + latents


def unpack_image(data: bytes) -> tuple[ImageHeader, LatentPayload]:
    """Parse and verify a .tng file (magic, version, CRCs, sizes, no trailing bytes)."""
    if len(data) < 4 or data[:4] != IMAGE_MAGIC:
        raise BitstreamError("not a .tng file (bad magic)")
    if len(data) < _IMAGE_HEADER.size + _CRC.size:
        raise BitstreamError("file is truncated (incomplete header)")
    _, version, coder_id, model_id, weights_hash, width, height, quality = _IMAGE_HEADER.unpack_from(data)
    if not SINGLE_PASS_VERSION <= version <= FORMAT_VERSION:
        raise BitstreamError(
            f"unsupported .tng format version {version} (this build reads versions {SINGLE_PASS_VERSION}..{FORMAT_VERSION})"
        )
    (crc,) = _CRC.unpack_from(data, _IMAGE_HEADER.size)
    if zlib.crc32(data[: _IMAGE_HEADER.size]) != crc:
        raise BitstreamError("header checksum mismatch: the file is corrupt")
    _check_picture_size(width, height)
    _check_quality(quality)
    offset = _IMAGE_HEADER.size + _CRC.size
    hyper, offset = read_chunk(data, offset, ChunkType.HYPER)
    latents = []
    while True:  # one LATENT chunk per coding pass; the model decides how many it needs
        section, offset = read_chunk(data, offset, ChunkType.LATENT)
        latents.append(section)
        if offset == len(data):
            break
        if version == SINGLE_PASS_VERSION or data[offset] != ChunkType.LATENT:
            raise BitstreamError(f"{len(data) - offset} unexpected bytes after the last chunk")
        if len(latents) == MAX_LATENT_CHUNKS:
            raise BitstreamError(f"more than {MAX_LATENT_CHUNKS} LATENT chunks")
    header = ImageHeader(coder_id, ModelIdentity(model_id, weights_hash), width, height, quality, version)
    return header, LatentPayload(hyper, tuple(latents))


def picture_size_problem(width: int, height: int) -> str | None:
    """Why a ``width`` x ``height`` picture does not fit the format (None when it does)."""
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        return f"picture size {width}x{height} is outside 1..{MAX_DIMENSION} per side"
    if width * height > MAX_PIXELS:
        return f"picture size {width}x{height} is over the format's limit of {MAX_PIXELS} pixels (8192x8192)"
    return None


def _check_picture_size(width: int, height: int) -> None:
    problem = picture_size_problem(width, height)
    if problem is not None:
        raise BitstreamError(f"invalid header: {problem}")


def _check_quality(quality: float) -> None:
    """The model's number of levels bounds it from above (checked with the model: tngvideo.plausibility)."""
    if not (math.isfinite(quality) and quality >= 1.0):
        raise BitstreamError(f"invalid quality {quality} (1 .. the model's number of levels)")


# --- .tngv ---------------------------------------------------------------------------------------

VIDEO_MAGIC = b"\x89TNV"
VIDEO_FORMAT_VERSION = 7  # what this build writes; it also reads versions 1 (all-intra, one model) to 6
ONE_STREAM_VERSION = 5  # from this version on, a frame unit is one chunk holding one stream of every symbol
COMPACT_FRAME_VERSION = 6  # from this version on, frame units are compact and the header states the passes
LATENT_GRID_VERSION = 7  # from this version on, frames are padded to 16 pixels (one latent), not to the models' 64
QUALITY_UNITS = 1024  # compact units store the quality in 1/1024ths of a level (u16)
_MAX_LENGTH_BYTES = 4  # a compact unit's LEB128 length: below 2^28 bytes
MAX_MODELS = 4

_VIDEO_HEADER_V1 = struct.Struct("<4sBBH8sIIII")
_VIDEO_HEADER = struct.Struct("<4sBBIIIIB")  # magic, version, coder, width, height, fps num, fps den, model count
_MODEL_ENTRY = struct.Struct("<BH8s")  # role, model id, weights hash prefix
_FRAME_HEAD_V1 = struct.Struct("<BfB")  # type, quality, LATENT chunks
_FRAME_HEAD = struct.Struct("<BfBB")  # type, quality, motion latent passes (0 for I-frames), frame latent passes
_PASSES = struct.Struct("<BBB")  # version 6 header: I-frame latent passes, P-frame motion and frame latent passes
_QUALITY = struct.Struct("<H")  # version 6 unit: quality in QUALITY_UNITS
_END_V1 = struct.Struct("<I")
_END = struct.Struct("<IQ")  # frame count, byte offset of the INDEX chunk
_INDEX_ENTRY = struct.Struct("<IQ")  # frame number, byte offset of its FRAME chunk
INDEX_ENTRY_BYTES = _INDEX_ENTRY.size  # what each I-frame adds to the INDEX chunk


class FrameType(IntEnum):
    INTRA = 1  # coded alone by the intra (image) model; resets the reference
    INTER = 2  # P-frame: motion and frame latents, predicted from the previous decoded frame


class ModelRole(IntEnum):
    INTRA = 1
    INTER = 2


@dataclass(frozen=True)
class VideoHeader:
    """Everything about a .tngv stream besides its frames."""

    coder_id: int
    models: tuple[tuple[ModelRole, ModelIdentity], ...]  # the model table: which weights each role needs
    width: int
    height: int
    fps: Fraction
    version: int = VIDEO_FORMAT_VERSION
    # From version 6, the header states the coding passes of every frame's latent tensors once (the frames of
    # earlier versions carry their own): (I-frame latents, P-frame motion latents, P-frame frame latents), the
    # P-frame ones 0 without an inter model.
    passes: tuple[int, int, int] = (0, 0, 0)

    @property
    def reconstruction(self) -> Reconstruction:
        return reconstruction_of(self.version)

    @property
    def padding_multiple(self) -> int:
        """Frames are padded to a multiple of this many pixels (see :func:`padding_multiple_of`)."""
        return padding_multiple_of(self.version)

    def passes_of(self, frame_type: FrameType) -> tuple[int, ...]:
        """The coding passes of the latent tensors a frame of ``frame_type`` codes (version 6 on), in decoding order."""
        return self.passes[:1] if frame_type == FrameType.INTRA else self.passes[1:]

    def model(self, role: ModelRole) -> ModelIdentity | None:
        return next((identity for r, identity in self.models if r == role), None)

    @property
    def intra_model(self) -> ModelIdentity:
        identity = self.model(ModelRole.INTRA)
        assert identity is not None  # every stream has one: checked when parsed and when written
        return identity


@dataclass(frozen=True)
class CodedFrame:
    """One frame unit of a .tngv stream.

    ``passes``: the coding passes of each latent tensor the frame codes, in decoding order (``(frame,)`` for an
    I-frame, ``(motion, frame)`` for a P-frame). ``sections``: its entropy-coded bytes, either one stream of
    every symbol (format version 5 on) or, per tensor, a hyper section and one section per pass (versions 1 to
    4, one stream each). A tensor codes at least two sections, so one section is always the one stream."""

    frame_type: FrameType
    quality: float
    passes: tuple[int, ...]
    sections: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.passes) != (2 if self.frame_type == FrameType.INTER else 1):
            raise ValueError("a P-frame codes motion and frame latents, an I-frame frame latents only")
        if not self.is_stream and len(self.sections) != sum(1 + count for count in self.passes):
            raise ValueError(f"{len(self.sections)} sections for latent passes {self.passes}")

    @property
    def is_stream(self) -> bool:
        return len(self.sections) == 1

    @property
    def num_bytes(self) -> int:
        return sum(len(section) for section in self.sections)

    def reader(self, coder_id: int) -> SymbolReader:
        """The frame's symbol batches in decoding order."""
        return StreamReader(self.sections[0], coder_id) if self.is_stream else SectionReader(self.sections, coder_id)


def video_header_bytes(header: VideoHeader) -> bytes:
    """The .tngv file header (of ``header.version``: the current one unless a test writes an older layout);
    frames, the index and the end follow (written incrementally by encoders)."""
    if not (0 < header.fps.numerator < 1 << 32 and 0 < header.fps.denominator < 1 << 32):
        raise ValueError(f"frame rate {header.fps} does not fit the header")
    if header.model(ModelRole.INTRA) is None or not 0 < len(header.models) <= MAX_MODELS:
        raise ValueError("a stream's model table needs an intra model")
    problem = picture_size_problem(header.width, header.height)
    if problem is not None:
        raise ValueError(problem)
    if not 2 <= header.version <= VIDEO_FORMAT_VERSION:
        raise ValueError(f"cannot write a .tngv header of format version {header.version}")
    head = _VIDEO_HEADER.pack(VIDEO_MAGIC, header.version, header.coder_id, header.width, header.height,
                              header.fps.numerator, header.fps.denominator, len(header.models))
    table = b"".join(_MODEL_ENTRY.pack(role, identity.model_id, identity.weights_hash) for role, identity in header.models)
    if header.version < COMPACT_FRAME_VERSION:
        return _with_crc(head + table)
    problem = _passes_problem(header.passes, header.model(ModelRole.INTER) is not None)
    if problem is not None:
        raise ValueError(problem)
    return _with_crc(head + table + _PASSES.pack(*header.passes))


def _passes_problem(passes: tuple[int, int, int], has_inter: bool) -> str | None:
    """Why a version-6 header's passes do not fit its model table (None when they do)."""
    intra, inter = passes[:1], passes[1:]
    if not all(1 <= count <= MAX_LATENT_CHUNKS for count in (intra + inter if has_inter else intra)):
        return f"invalid numbers of latent passes {passes}"
    if not has_inter and inter != (0, 0):
        return f"P-frame latent passes {inter} without an inter model"
    return None


def float32_quality(value: float) -> float:
    """The quality a .tng header (or a .tngv frame up to version 5) stores for ``value``, as float32: encoders and
    rate control code with exactly what decoders read back."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def stored_quality(value: float, version: int = VIDEO_FORMAT_VERSION) -> float:
    """The quality a .tngv frame of format ``version`` stores for ``value`` (float32 up to version 5, 1/1024ths
    of a level from version 6): encoders code with exactly what decoders read back."""
    if version >= COMPACT_FRAME_VERSION:
        return round(value * QUALITY_UNITS) / QUALITY_UNITS
    return float32_quality(value)


def frame_bytes(frame: CodedFrame, version: int = VIDEO_FORMAT_VERSION) -> bytes:
    """One frame unit as format ``version`` lays it out (what this build writes, unless a test or ``tngvideo
    info`` asks for an older layout). From version 6: a compact unit (:func:`_compact_unit`). Version 5: one FRAME
    chunk, its head and then the one stream of every symbol. Versions 2 to 4: a FRAME chunk, then each section in
    its own HYPER or LATENT chunk (the motion's first). Version 1: the same without the motion count."""
    if version >= COMPACT_FRAME_VERSION:
        return _compact_unit(frame)
    motion_passes = frame.passes[0] if frame.frame_type == FrameType.INTER else 0
    if version == 1:
        head = _FRAME_HEAD_V1.pack(frame.frame_type, frame.quality, frame.passes[-1])
    else:
        head = _FRAME_HEAD.pack(frame.frame_type, frame.quality, motion_passes, frame.passes[-1])
    if frame.is_stream != (version >= ONE_STREAM_VERSION):
        raise ValueError(f"format version {version} {'needs' if version >= ONE_STREAM_VERSION else 'cannot hold'} "
                         "one stream per frame")
    if frame.is_stream:
        return write_chunk(ChunkType.FRAME, head + frame.sections[0])
    chunks = []
    sections = iter(frame.sections)
    for passes in frame.passes:
        chunks.append(write_chunk(ChunkType.HYPER, next(sections)))
        chunks.extend(write_chunk(ChunkType.LATENT, next(sections)) for _ in range(passes))
    return write_chunk(ChunkType.FRAME, head) + b"".join(chunks)


def _compact_unit(frame: CodedFrame) -> bytes:
    """A version-6 frame unit: ``u8 kind | LEB128 length | u16 quality | stream | u32 crc32``, the length counting
    the quality and the stream, whose trailing zero bytes are left out (the stream is whole 32-bit words whose last
    one is not zero, so at most three; a reader puts them back). 9 bytes of framing for a frame of 128 bytes to
    16 kB, against 16 in version 5; the ANS coder's final state ends in ~1.5 zero bytes on average (it is
    about log-uniform)."""
    if not frame.is_stream:
        raise ValueError("format version 6 needs one stream per frame")
    units = round(frame.quality * QUALITY_UNITS)
    if units != frame.quality * QUALITY_UNITS or not QUALITY_UNITS <= units < 1 << 16:
        raise ValueError(f"quality {frame.quality} is not stored exactly by format version 6 (stored_quality)")
    body = _QUALITY.pack(units) + frame.sections[0].rstrip(b"\0")
    kind = ChunkType.INTRA_FRAME if frame.frame_type == FrameType.INTRA else ChunkType.INTER_FRAME
    return _with_crc(bytes([kind]) + _leb128(len(body)) + body)


def _leb128(value: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, low bits first, the high bit set on every byte but the last."""
    if not 0 <= value < 1 << (7 * _MAX_LENGTH_BYTES):
        raise ValueError(f"a frame of {value} bytes is over the format's limit")
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_leb128(data: bytes, offset: int) -> tuple[int, int]:
    """(value, offset after it) of the minimal LEB128 at ``offset``, at most ``_MAX_LENGTH_BYTES`` bytes."""
    value = 0
    for count in range(_MAX_LENGTH_BYTES):
        if offset + count >= len(data):
            raise BitstreamError("file is truncated (incomplete frame unit)")
        byte = data[offset + count]
        value |= (byte & 0x7F) << (7 * count)
        if not byte & 0x80:
            if byte == 0 and count:
                raise BitstreamError("malformed frame unit (its length is not minimally encoded)")
            return value, offset + count + 1
    raise BitstreamError("malformed frame unit (its length takes more than 4 bytes)")


def index_and_end_bytes(frame_count: int, intra_frames: list[tuple[int, int]], index_offset: int) -> bytes:
    """The INDEX chunk (every I-frame's number and the byte offset of its FRAME chunk, so a reader can
    start at any GOP) written at ``index_offset``, then the END chunk that closes the file."""
    index = _END_V1.pack(len(intra_frames)) + b"".join(_INDEX_ENTRY.pack(n, o) for n, o in intra_frames)
    return write_chunk(ChunkType.INDEX, index) + write_chunk(ChunkType.END, _END.pack(frame_count, index_offset))


def pack_video(header: VideoHeader, frames: Iterable[CodedFrame]) -> bytes:
    """A whole .tngv file in memory (encoders write the same pieces incrementally)."""
    data = bytearray(video_header_bytes(header))
    intra_frames = []
    count = 0
    for count, frame in enumerate(frames, start=1):
        if header.version >= COMPACT_FRAME_VERSION and frame.passes != header.passes_of(frame.frame_type):
            raise ValueError(f"frame {count - 1} codes passes {frame.passes}, the header states "
                             f"{header.passes_of(frame.frame_type)}")
        if frame.frame_type == FrameType.INTRA:
            intra_frames.append((count - 1, len(data)))
        data += frame_bytes(frame, header.version)
    return bytes(data + index_and_end_bytes(count, intra_frames, len(data)))


def unpack_video(data: bytes) -> tuple[VideoHeader, list[CodedFrame]]:
    """Parse and verify a whole .tngv file of any version from 1 to ``VIDEO_FORMAT_VERSION`` (magic, version,
    every CRC, the model table, the index, the frame count, no trailing bytes)."""
    if len(data) < 5 or data[:4] != VIDEO_MAGIC:
        raise BitstreamError("not a .tngv file (bad magic)")
    version = data[4]
    if not 1 <= version <= VIDEO_FORMAT_VERSION:
        raise BitstreamError(f"unsupported .tngv format version {version} (this build reads 1..{VIDEO_FORMAT_VERSION})")
    header, offset = _read_video_header_v1(data) if version == 1 else _read_video_header(data, version)
    frames: list[CodedFrame] = []
    intra_frames: list[tuple[int, int]] = []
    index_offset: int | None = None
    while True:
        if offset + _CHUNK_HEAD.size > len(data):
            raise BitstreamError(f"file is truncated after frame {len(frames)} (no END chunk)")
        if version >= 2 and data[offset] == ChunkType.INDEX and index_offset is None:
            index_offset = offset
            index, offset = read_chunk(data, offset, ChunkType.INDEX)
            if _read_index(index) != intra_frames:
                raise BitstreamError("INDEX chunk does not match the file's I-frames")
            continue
        if data[offset] == ChunkType.END:
            end, offset = read_chunk(data, offset, ChunkType.END)
            break
        if index_offset is not None:
            raise BitstreamError("a chunk other than END after the INDEX chunk")
        frame_offset = offset
        if version >= COMPACT_FRAME_VERSION:
            frame, offset = _read_compact_unit(data, offset, header)
        else:
            frame, offset = _read_frame(data, offset, version)
        if not frames and frame.frame_type != FrameType.INTRA:
            raise BitstreamError("the first frame is not an I-frame")
        if frame.frame_type == FrameType.INTRA:
            intra_frames.append((len(frames), frame_offset))
        elif header.model(ModelRole.INTER) is None:
            raise BitstreamError("a P-frame in a stream whose model table has no inter model")
        frames.append(frame)
    if not frames:
        raise BitstreamError("file holds no frames")
    _check_end(end, len(frames), version, index_offset)
    if offset != len(data):
        raise BitstreamError(f"{len(data) - offset} unexpected bytes after the END chunk")
    return header, frames


def _read_video_header_v1(data: bytes) -> tuple[VideoHeader, int]:
    if len(data) < _VIDEO_HEADER_V1.size + _CRC.size:
        raise BitstreamError("file is truncated (incomplete header)")
    _, _, coder_id, model_id, weights_hash, width, height, fps_num, fps_den = _VIDEO_HEADER_V1.unpack_from(data)
    _check_crc(data, _VIDEO_HEADER_V1.size)
    _check_video_size(width, height, fps_num, fps_den)
    models = ((ModelRole.INTRA, ModelIdentity(model_id, weights_hash)),)
    return VideoHeader(coder_id, models, width, height, Fraction(fps_num, fps_den), 1), _VIDEO_HEADER_V1.size + _CRC.size


def _read_video_header(data: bytes, version: int) -> tuple[VideoHeader, int]:
    if len(data) < _VIDEO_HEADER.size:
        raise BitstreamError("file is truncated (incomplete header)")
    _, _, coder_id, width, height, fps_num, fps_den, count = _VIDEO_HEADER.unpack_from(data)
    if not 0 < count <= MAX_MODELS:
        raise BitstreamError(f"invalid model table size {count}")
    table_end = _VIDEO_HEADER.size + count * _MODEL_ENTRY.size
    size = table_end + (_PASSES.size if version >= COMPACT_FRAME_VERSION else 0)
    if len(data) < size + _CRC.size:
        raise BitstreamError("file is truncated (incomplete header)")
    _check_crc(data, size)
    _check_video_size(width, height, fps_num, fps_den)
    models: list[tuple[ModelRole, ModelIdentity]] = []
    for i in range(count):
        role, model_id, weights_hash = _MODEL_ENTRY.unpack_from(data, _VIDEO_HEADER.size + i * _MODEL_ENTRY.size)
        if role not in ModelRole.__members__.values() or any(r == role for r, _ in models):
            raise BitstreamError(f"invalid model table (role {role})")
        models.append((ModelRole(role), ModelIdentity(model_id, weights_hash)))
    if not any(r == ModelRole.INTRA for r, _ in models):
        raise BitstreamError("the model table names no intra model")
    passes: tuple[int, int, int] = (0, 0, 0)
    if version >= COMPACT_FRAME_VERSION:
        passes = _PASSES.unpack_from(data, table_end)
        problem = _passes_problem(passes, any(r == ModelRole.INTER for r, _ in models))
        if problem is not None:
            raise BitstreamError(f"invalid header: {problem}")
    fps = Fraction(fps_num, fps_den)
    return VideoHeader(coder_id, tuple(models), width, height, fps, version, passes), size + _CRC.size


def _check_crc(data: bytes, size: int) -> None:
    (crc,) = _CRC.unpack_from(data, size)
    if zlib.crc32(data[:size]) != crc:
        raise BitstreamError("header checksum mismatch: the file is corrupt")


def _check_video_size(width: int, height: int, fps_num: int, fps_den: int) -> None:
    _check_picture_size(width, height)
    if fps_num == 0 or fps_den == 0:
        raise BitstreamError(f"invalid header: frame rate {fps_num}/{fps_den}")


def _read_index(index: bytes) -> list[tuple[int, int]]:
    if len(index) < _END_V1.size:
        raise BitstreamError("malformed INDEX chunk")
    (count,) = _END_V1.unpack_from(index)
    if len(index) != _END_V1.size + count * _INDEX_ENTRY.size:
        raise BitstreamError("malformed INDEX chunk")
    return [_INDEX_ENTRY.unpack_from(index, _END_V1.size + i * _INDEX_ENTRY.size) for i in range(count)]


def _check_end(end: bytes, frame_count: int, version: int, index_offset: int | None) -> None:
    if version == 1:
        if len(end) != _END_V1.size or _END_V1.unpack(end)[0] != frame_count:
            raise BitstreamError(f"END chunk does not match the {frame_count} frames in the file")
        return
    if index_offset is None:
        raise BitstreamError("file has no INDEX chunk")
    if len(end) != _END.size or _END.unpack(end) != (frame_count, index_offset):
        raise BitstreamError(f"END chunk does not match the {frame_count} frames and the index in the file")


def _read_sections(data: bytes, position: int, passes: int) -> tuple[list[bytes], int]:
    """A HYPER chunk and ``passes`` LATENT chunks (format versions 1 to 4)."""
    hyper, position = read_chunk(data, position, ChunkType.HYPER)
    sections = [hyper]
    for _ in range(passes):
        section, position = read_chunk(data, position, ChunkType.LATENT)
        sections.append(section)
    return sections, position


def _read_frame(data: bytes, offset: int, version: int) -> tuple[CodedFrame, int]:
    """The frame unit at ``offset`` and the offset after it."""
    head, position = read_chunk(data, offset, ChunkType.FRAME)
    head_struct = _FRAME_HEAD_V1 if version == 1 else _FRAME_HEAD
    one_stream = version >= ONE_STREAM_VERSION  # then the stream follows the head in the chunk
    if len(head) < head_struct.size or (len(head) > head_struct.size and not one_stream):
        raise BitstreamError("malformed FRAME chunk")
    if version == 1:
        frame_type, quality, latent_count = _FRAME_HEAD_V1.unpack(head)
        motion_count = 0
    else:
        frame_type, quality, motion_count, latent_count = _FRAME_HEAD.unpack_from(head)
    if frame_type not in FrameType.__members__.values() or (version == 1 and frame_type != FrameType.INTRA):
        raise BitstreamError(f"unknown frame type {frame_type}")
    if (frame_type == FrameType.INTER) != (motion_count > 0):
        raise BitstreamError("FRAME chunk's motion sections do not match its type")
    _check_quality(quality)
    passes = (motion_count, latent_count) if motion_count else (latent_count,)
    if not all(1 <= count <= MAX_LATENT_CHUNKS for count in passes):
        raise BitstreamError(f"invalid numbers of latent passes {passes}")
    if one_stream:
        return CodedFrame(FrameType(frame_type), quality, passes, (head[head_struct.size :],)), position
    sections: list[bytes] = []
    for count in passes:
        more, position = _read_sections(data, position, count)
        sections += more
    return CodedFrame(FrameType(frame_type), quality, passes, tuple(sections)), position


def _read_compact_unit(data: bytes, offset: int, header: VideoHeader) -> tuple[CodedFrame, int]:
    """The version-6 frame unit at ``offset`` (see :func:`_compact_unit`) and the offset after it."""
    kind = data[offset]
    if kind not in (ChunkType.INTRA_FRAME, ChunkType.INTER_FRAME):
        raise BitstreamError(f"unexpected chunk type {kind} (expected a frame unit)")
    length, position = _read_leb128(data, offset + 1)
    end = position + length
    if end + _CRC.size > len(data):
        raise BitstreamError("file is truncated (frame unit shorter than its length)")
    (crc,) = _CRC.unpack_from(data, end)
    if zlib.crc32(memoryview(data)[offset:end]) != crc:
        raise BitstreamError("frame unit checksum mismatch: the file is corrupt")
    if length < _QUALITY.size:
        raise BitstreamError("malformed frame unit (no quality)")
    (units,) = _QUALITY.unpack_from(data, position)
    quality = units / QUALITY_UNITS
    _check_quality(quality)
    stream = data[position + _QUALITY.size : end]
    if stream.endswith(b"\0"):
        raise BitstreamError("malformed frame unit (its stream keeps trailing zero bytes)")
    frame_type = FrameType.INTRA if kind == ChunkType.INTRA_FRAME else FrameType.INTER
    words = stream + bytes(-len(stream) % 4)
    return CodedFrame(frame_type, quality, header.passes_of(frame_type), (words,)), end + _CRC.size
