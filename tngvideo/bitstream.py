"""The .tng (image) container: the one module that reads and writes tngvideo bitstreams.

Layout (all integers little-endian; the spec with rationale is ``docs/bitstream.md``)::

    header  = magic "\\x89TNG" | u8 format_version (1: one LATENT chunk, 2: one or more) | u8 coder_id | u16 model_id
              | 8 bytes weights-sha256 prefix | u32 width | u32 height | f32 quality | u32 crc32(header)
    chunk   = u8 type | u32 length | payload | u32 crc32(type, length, payload)
    file    = header, HYPER chunk, LATENT chunk per coding pass (1, or 2 with checkerboard context), nothing after

Chunks are the reusable unit: the video container (.tngv) frames its units the same way.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

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
    latents = b"".join(write_chunk(ChunkType.LATENT, section) for section in payload.latents)
    return _with_crc(head) + write_chunk(ChunkType.HYPER, payload.hyper) + latents


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
