"""The .tng (image) and .tngv (video) containers: the one module that reads and writes tngvideo bitstreams.

Layout (all integers little-endian; the spec with rationale is ``docs/bitstream.md``)::

    chunk   = u8 type | u32 length | payload | u32 crc32(type, length, payload)
    .tng    = header | HYPER chunk | LATENT chunk per coding pass (1, or 2 with checkerboard context), nothing after
      header  = magic "\\x89TNG" | u8 format_version (1: one LATENT chunk, 2: one or more) | u8 coder_id | u16 model_id
                | 8 bytes weights-sha256 prefix | u32 width | u32 height | f32 quality | u32 crc32(header)
    .tngv   = header | per frame: FRAME chunk, HYPER chunk, LATENT chunks | END chunk, nothing after
      header  = magic "\\x89TNV" | u8 format_version | u8 coder_id | u16 model_id | 8 bytes weights-sha256 prefix
                | u32 width | u32 height | u32 fps numerator | u32 fps denominator | u32 crc32(header)

A video frame's chunks are exactly an image's: an I-frame is a .tng picture without the file header.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction

from tngvideo.codecs.image_codec import LatentPayload
from tngvideo.errors import BitstreamError

IMAGE_MAGIC = b"\x89TNG"
FORMAT_VERSION = 2  # the newest version this build reads and writes
SINGLE_PASS_VERSION = 1  # files with one LATENT chunk are written as version 1, readable by every build
HASH_PREFIX_BYTES = 8
MAX_DIMENSION = 1 << 16

_IMAGE_HEADER = struct.Struct("<4sBBH8sIIf")
_CRC = struct.Struct("<I")
_CHUNK_HEAD = struct.Struct("<BI")


class ChunkType(IntEnum):
    HYPER = 1
    LATENT = 2
    FRAME = 3  # .tngv: starts a frame (type, quality, number of LATENT chunks)
    END = 4  # .tngv: closes the file (frame count), so truncation is always detected


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
    version = SINGLE_PASS_VERSION if len(payload.latents) == 1 else FORMAT_VERSION
    head = _IMAGE_HEADER.pack(
        IMAGE_MAGIC,
        version,
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
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise BitstreamError(f"invalid picture size {width}x{height}")
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
    header = ImageHeader(coder_id, ModelIdentity(model_id, weights_hash), width, height, quality)
    return header, LatentPayload(hyper, tuple(latents))


# --- .tngv ---------------------------------------------------------------------------------------

VIDEO_MAGIC = b"\x89TNV"
VIDEO_FORMAT_VERSION = 1
MAX_LATENT_CHUNKS = 8

_VIDEO_HEADER = struct.Struct("<4sBBH8sIIII")
_FRAME_HEAD = struct.Struct("<BfB")
_END = struct.Struct("<I")


class FrameType(IntEnum):
    INTRA = 1  # coded alone by the image model (P-frames will get their own type)


@dataclass(frozen=True)
class VideoHeader:
    """Everything about a .tngv stream besides its frames."""

    coder_id: int
    model: ModelIdentity  # the image (I-frame) model
    width: int
    height: int
    fps: Fraction


@dataclass(frozen=True)
class CodedFrame:
    """One frame unit of a .tngv stream."""

    frame_type: FrameType
    quality: float
    payload: LatentPayload


def video_header_bytes(header: VideoHeader) -> bytes:
    """The .tngv file header; frames and the end follow (written incrementally by encoders)."""
    if not (0 < header.fps.numerator < 1 << 32 and 0 < header.fps.denominator < 1 << 32):
        raise ValueError(f"frame rate {header.fps} does not fit the header")
    head = _VIDEO_HEADER.pack(
        VIDEO_MAGIC,
        VIDEO_FORMAT_VERSION,
        header.coder_id,
        header.model.model_id,
        header.model.weights_hash,
        header.width,
        header.height,
        header.fps.numerator,
        header.fps.denominator,
    )
    return _with_crc(head)


def frame_bytes(frame: CodedFrame) -> bytes:
    """One frame unit: a FRAME chunk, then the frame's HYPER and LATENT chunks."""
    head = _FRAME_HEAD.pack(frame.frame_type, frame.quality, len(frame.payload.latents))
    return write_chunk(ChunkType.FRAME, head) + _payload_chunks(frame.payload)


def end_bytes(frame_count: int) -> bytes:
    """The END chunk that closes a .tngv file."""
    return write_chunk(ChunkType.END, _END.pack(frame_count))


def pack_video(header: VideoHeader, frames: Iterable[CodedFrame]) -> bytes:
    """A whole .tngv file in memory (encoders usually write the same pieces incrementally)."""
    units = [frame_bytes(frame) for frame in frames]
    return video_header_bytes(header) + b"".join(units) + end_bytes(len(units))


def unpack_video(data: bytes) -> tuple[VideoHeader, list[CodedFrame]]:
    """Parse and verify a whole .tngv file (magic, version, every CRC, frame count, no trailing bytes)."""
    if len(data) < 4 or data[:4] != VIDEO_MAGIC:
        raise BitstreamError("not a .tngv file (bad magic)")
    if len(data) < _VIDEO_HEADER.size + _CRC.size:
        raise BitstreamError("file is truncated (incomplete header)")
    _, version, coder_id, model_id, weights_hash, width, height, fps_num, fps_den = _VIDEO_HEADER.unpack_from(data)
    if version != VIDEO_FORMAT_VERSION:
        raise BitstreamError(f"unsupported .tngv format version {version} (this build reads {VIDEO_FORMAT_VERSION})")
    (crc,) = _CRC.unpack_from(data, _VIDEO_HEADER.size)
    if zlib.crc32(data[: _VIDEO_HEADER.size]) != crc:
        raise BitstreamError("header checksum mismatch: the file is corrupt")
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION) or fps_num == 0 or fps_den == 0:
        raise BitstreamError(f"invalid video size {width}x{height} or frame rate {fps_num}/{fps_den}")
    header = VideoHeader(coder_id, ModelIdentity(model_id, weights_hash), width, height, Fraction(fps_num, fps_den))
    offset = _VIDEO_HEADER.size + _CRC.size
    frames: list[CodedFrame] = []
    while True:
        if offset + _CHUNK_HEAD.size > len(data):
            raise BitstreamError(f"file is truncated after frame {len(frames)} (no END chunk)")
        if data[offset] == ChunkType.END:
            end, offset = read_chunk(data, offset, ChunkType.END)
            break
        frame, offset = _read_frame(data, offset)
        frames.append(frame)
    if not frames:
        raise BitstreamError("file holds no frames")
    if len(end) != _END.size or _END.unpack(end)[0] != len(frames):
        raise BitstreamError(f"END chunk does not match the {len(frames)} frames in the file")
    if offset != len(data):
        raise BitstreamError(f"{len(data) - offset} unexpected bytes after the END chunk")
    return header, frames


def _read_frame(data: bytes, offset: int) -> tuple[CodedFrame, int]:
    """The frame unit at ``offset`` and the offset after it."""
    head, position = read_chunk(data, offset, ChunkType.FRAME)
    if len(head) != _FRAME_HEAD.size:
        raise BitstreamError("malformed FRAME chunk")
    frame_type, quality, latent_count = _FRAME_HEAD.unpack(head)
    if frame_type not in FrameType.__members__.values():
        raise BitstreamError(f"unknown frame type {frame_type}")
    if not 1 <= latent_count <= MAX_LATENT_CHUNKS:
        raise BitstreamError(f"invalid number of LATENT chunks {latent_count}")
    hyper, position = read_chunk(data, position, ChunkType.HYPER)
    latents = []
    for _ in range(latent_count):
        section, position = read_chunk(data, position, ChunkType.LATENT)
        latents.append(section)
    return CodedFrame(FrameType(frame_type), quality, LatentPayload(hyper, tuple(latents))), position
