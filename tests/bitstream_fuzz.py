"""Fuzzing both bitstreams: seeds, mutations and the decode-and-classify step, shared by
``tests/test_fuzz.py`` (hypothesis drives the choices, CI runs a few hundred cases) and
``scripts/fuzz_bitstreams.py`` (a seeded ``random.Random`` drives them, a long campaign).

Seeds are real files: .tng pictures (one and two LATENT chunks) and .tngv streams (I- and P-frames in the
frame layouts of format versions 4, 5 and 6, and all-intra) made with the tiny random-init models of
``tiny_model.py``, and, when asked, files of the shipped weights (a .tng picture and the version-1 .tngv
sample). Mutations work on raw bytes (bit flips, truncation, inserted and deleted bytes) and on the parsed
structure with every CRC recomputed, so the damage reaches the header checks, the structure checks, the
entropy decoder and the networks (random header fields, a chunk's or a compact unit's payload damaged,
chunks and units swapped, dropped, duplicated or retyped, frame fields changed (a FRAME chunk's head; a
compact unit's kind, quality and length field), sections spliced in from another seed, header claims of
huge pictures).

The property: every case ends in a decode (pictures of the header's size, one per frame) or a
:class:`~tngvideo.errors.TngError`, within a time bound.
"""

from __future__ import annotations

import math
import random
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from tiny_model import tiny_inter_model, tiny_loaded

from tngvideo.bitstream import (
    COMPACT_FRAME_VERSION,
    IMAGE_MAGIC,
    VIDEO_FORMAT_VERSION,
    VIDEO_MAGIC,
    ChunkType,
    FrameType,
    ModelIdentity,
    VideoHeader,
    pack_video,
    write_chunk,
)
from tngvideo.codecs.inter_codec import InterCodec
from tngvideo.entropy.coder import CODER_ID
from tngvideo.errors import TngError
from tngvideo.tng_image import LoadedImageCodec, decode_image, encode_image
from tngvideo.tng_inter import LoadedInterCodec, VideoModels
from tngvideo.tng_video import open_tngv
from tngvideo.video_coder import GopPolicy, VideoEncoder

DATA_DIR = Path(__file__).parent / "data"
V1_SAMPLE = DATA_DIR / "sample_v1_q3_3frames.tngv"
_CRC = struct.Struct("<I")
_CHUNK_HEAD = struct.Struct("<BI")


# --- seeds ---------------------------------------------------------------------------------------


@dataclass
class Decoders:
    """The models a decode may use: image codecs by model id, and the video models."""

    images: dict[int, LoadedImageCodec]
    video: VideoModels | None  # None: .tngv files name shipped models (loaded from the manifest)

    def image_codec(self, data: bytes) -> LoadedImageCodec | None:
        if not self.images:
            return None  # the shipped model the file names
        model_id = int.from_bytes(data[6:8], "little") if len(data) >= 8 else 0
        return self.images.get(model_id, next(iter(self.images.values())))


@dataclass
class SeedSet:
    """Seed files (name -> bytes) and the decoders they need."""

    seeds: dict[str, bytes]
    decoders: Decoders
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = sorted(self.seeds)


def _moving_frames(height: int, width: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """A smooth picture sliding right by 2 pixels a frame (P-frames have motion to code)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 3)
    channels = [127.5 + 100 * np.sin(2 * np.pi * (x / 23 + y / 31) + phase[c] + c) for c in range(3)]
    base = np.clip(np.rint(np.stack(channels, axis=-1)), 0, 255).astype(np.uint8)
    return [np.roll(base, 2 * t, axis=1) for t in range(count)]


def _tngv(models: VideoModels, frames: Sequence[np.ndarray], gop: int, quality: float,
          version: int = VIDEO_FORMAT_VERSION) -> bytes:
    encoder = VideoEncoder(models, quality, GopPolicy(gop), version=version)
    units = [unit.frame for frame in frames for unit in encoder.encode(frame)]
    height, width = frames[0].shape[:2]
    passes = models.passes() if version >= COMPACT_FRAME_VERSION else (0, 0, 0)
    return pack_video(VideoHeader(CODER_ID, models.table(), width, height, Fraction(25), version, passes), units)


def tiny_seeds() -> SeedSet:
    """Seeds made with the tiny models: .tng with one and two LATENT chunks, a .tngv with I- and
    P-frames (GOP 3: I P P I P) in each frame layout still read (the compact units of version 7, coding the latents
    that show pixels, and of version 6, coding them all; the one-chunk frames of version 5, the chunked frames of
    version 4), an all-intra .tngv; odd and even sizes."""
    plain = tiny_loaded(seed=0, model_id=7)
    context = tiny_loaded(seed=1, model_id=8, context="checkerboard")
    inter = LoadedInterCodec(InterCodec(tiny_inter_model(0)), ModelIdentity(20, bytes(range(8, 16))), "tiny-inter",
                             plain.name)
    video = VideoModels(plain, inter)
    frames = _moving_frames(48, 64, 5)
    odd = _moving_frames(33, 47, 2, seed=1)
    seeds = {
        "tiny-64x48.tng": encode_image(frames[0], 3.0, plain).data,
        "tiny-47x33-checkerboard.tng": encode_image(odd[0], 5.5, context).data,
        "tiny-ip-gop3.tngv": _tngv(video, frames, 3, 3.0),
        "tiny-ip-gop3-v6.tngv": _tngv(video, frames, 3, 3.0, version=6),
        "tiny-ip-gop3-v5.tngv": _tngv(video, frames, 3, 3.0, version=5),
        "tiny-ip-gop3-v4.tngv": _tngv(video, frames, 3, 3.0, version=4),
        "tiny-intra-47x33.tngv": _tngv(VideoModels(plain, None), odd, 1, 2.0),
    }
    return SeedSet(seeds, Decoders({7: plain, 8: context}, video))


def shipped_seeds() -> SeedSet:
    """Seeds of the shipped weights, decoded with the models the files name: a 64x48 .tng of the newest
    image model, the version-1 .tngv sample (model tng-image-v11) and, once an inter model is shipped, a
    64x48 .tngv with P-frames (GOP 3: I P P I)."""
    from tngvideo.tng_image import load_image_codec
    from tngvideo.tng_inter import INTER_KIND, load_video_models
    from tngvideo.zoo import read_manifest

    loaded = load_image_codec()
    frames = _moving_frames(48, 64, 4, seed=2)
    seeds = {"shipped-64x48.tng": encode_image(frames[0], 4.0, loaded).data, "sample-v1.tngv": V1_SAMPLE.read_bytes()}
    if any(entry.kind == INTER_KIND for entry in read_manifest()):
        seeds["shipped-ip-gop3.tngv"] = _tngv(load_video_models(), frames, 3, 4.0)
    return SeedSet(seeds, Decoders({}, None))


# --- the parsed structure ------------------------------------------------------------------------

_PASSES_BYTES = 3  # .tngv from version 6: the header's I-frame and P-frame latent passes, before its CRC
_MAX_LENGTH_BYTES = 4  # .tngv from version 6: the most bytes a compact unit's LEB128 length may take
_QUALITY = struct.Struct("<H")  # .tngv from version 6: a compact unit's quality, in 1/1024ths of a level
_UNIT_FRAME_TYPES: dict[int, int] = {ChunkType.INTRA_FRAME: FrameType.INTRA, ChunkType.INTER_FRAME: FrameType.INTER}


def _with_crc(data: bytes) -> bytes:
    return data + _CRC.pack(zlib.crc32(data))


def _is_compact(data: bytes) -> bool:
    """Whether ``data`` claims a .tngv version whose frames are compact units (and whose header states the passes)."""
    return data[:4] == VIDEO_MAGIC and len(data) > 4 and data[4] >= COMPACT_FRAME_VERSION


def _is_unit(compact: bool, kind: int) -> bool:
    """Whether an entry is laid out as a compact unit: as the reader tells them apart, everything but the INDEX and
    END chunks of a version-6 stream (a retyped unit stays a unit, so the reader's kind check sees it)."""
    return compact and kind not in (ChunkType.INDEX, ChunkType.END)


def _leb128(value: int, size: int = 1) -> bytes:
    """``value`` in unsigned LEB128 (7 bits a byte, low bits first, the high bit set on all but the last) in at
    least ``size`` bytes: more than the fewest is a non-minimal form, which the reader refuses."""
    out = bytearray()
    while True:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
        size -= 1
        if not value and size <= 0:
            out[-1] &= 0x7F
            return bytes(out)


def _read_leb128(data: bytes, offset: int) -> tuple[int, int] | None:
    """(value, offset after it) of a compact unit's length at ``offset``: minimal LEB128, at most 4 bytes; None
    where the reader finds none. The fuzzer's own reading, independent of the library's."""
    value = 0
    for count, byte in enumerate(data[offset : offset + _MAX_LENGTH_BYTES]):
        value |= (byte & 0x7F) << (7 * count)
        if not byte & 0x80:
            return (value, offset + count + 1) if byte or not count else None
    return None


@dataclass
class Parsed:
    """A .tng/.tngv file as header fields + chunks, tolerant of anything after a valid start. From .tngv version 6
    on, each frame is a compact unit, held as a pseudo chunk: its kind, and its quality and stream as payload."""

    magic: bytes
    header: bytearray  # without its CRC
    chunks: list[tuple[int, bytes]]  # (type, payload); a compact unit's payload: its bytes between length and CRC
    trailing: bytes  # bytes after the last whole chunk
    compact: bool  # frames are compact units: fixed when parsed, so a mutated header version keeps the layout

    @property
    def is_video(self) -> bool:
        return self.magic == VIDEO_MAGIC

    def is_unit(self, chunk_type: int) -> bool:
        return _is_unit(self.compact, chunk_type)

    def starts_frame(self, chunk_type: int) -> bool:
        """A FRAME chunk (followed by its section chunks up to version 4) or a compact unit."""
        return chunk_type == ChunkType.FRAME or self.is_unit(chunk_type)

    def frame_type(self, chunk_type: int, payload: bytes) -> int | None:
        """The frame type (a FrameType value) a frame's unit states: a compact unit's kind, a FRAME chunk's first
        byte; None for other chunks."""
        if self.compact:
            return _UNIT_FRAME_TYPES.get(chunk_type)
        return payload[0] if chunk_type == ChunkType.FRAME and payload else None


def header_size(data: bytes) -> int | None:
    """Size of the header (without CRC) of a .tng / .tngv file, or None when it cannot be told."""
    if data[:4] == IMAGE_MAGIC:
        return 28
    if data[:4] == VIDEO_MAGIC and len(data) > 4:
        if data[4] == 1:
            return 32
        if len(data) > 22:
            return 23 + 11 * data[22] + (_PASSES_BYTES if _is_compact(data) else 0)
    return None


@dataclass(frozen=True)
class _Span:
    """Where one chunk or compact unit lies in a file."""

    kind: int
    start: int
    body: int  # where its payload starts, after its type and length
    end: int  # after its CRC: past the file's end when the file stops inside it


def _spans(data: bytes) -> list[_Span]:
    """The chunks and compact units after the header, as far as their type and length can be read."""
    size = header_size(data)
    if size is None:
        return []
    compact = _is_compact(data)
    spans: list[_Span] = []
    offset = size + _CRC.size
    while offset < len(data):
        if _is_unit(compact, data[offset]):
            length_and_body = _read_leb128(data, offset + 1)
            if length_and_body is None:
                break
            length, body = length_and_body
        elif offset + _CHUNK_HEAD.size <= len(data):
            length, body = _CHUNK_HEAD.unpack_from(data, offset)[1], offset + _CHUNK_HEAD.size
        else:
            break
        spans.append(_Span(data[offset], offset, body, body + length + _CRC.size))
        offset = spans[-1].end
    return spans


def parse(data: bytes) -> Parsed | None:
    size = header_size(data)
    if size is None or len(data) < size + _CRC.size:
        return None
    whole = [span for span in _spans(data) if span.end <= len(data)]  # only the last one can run past the end
    chunks = [(span.kind, bytes(data[span.body : span.end - _CRC.size])) for span in whole]
    end = whole[-1].end if whole else size + _CRC.size
    return Parsed(bytes(data[:4]), bytearray(data[:size]), chunks, bytes(data[end:]), _is_compact(data))


def build(parsed: Parsed, fix_index: bool = True) -> bytes:
    """Bytes of ``parsed`` with every CRC (and compact unit length) right; for a stream of version 2 on,
    ``fix_index`` rewrites the INDEX and END chunks to match the frames (so the damage is not caught by the index
    alone)."""
    head = bytes(parsed.header)
    out = bytearray(_with_crc(head))
    indexed = parsed.is_video and len(head) > 4 and head[4] >= 2  # versions with an INDEX chunk
    intra: list[tuple[int, int]] = []
    frames = 0
    for chunk_type, payload in parsed.chunks:
        if indexed and fix_index and chunk_type in (ChunkType.INDEX, ChunkType.END):
            continue
        frame_type = parsed.frame_type(chunk_type, payload)
        if frame_type is not None:
            if frame_type == FrameType.INTRA:
                intra.append((frames, len(out)))
            frames += 1
        if parsed.is_unit(chunk_type):
            out += _with_crc(bytes([chunk_type]) + _leb128(len(payload)) + payload)
        else:
            out += write_chunk(chunk_type, payload)
    if indexed and fix_index:
        index = struct.pack("<I", len(intra)) + b"".join(struct.pack("<IQ", n, o) for n, o in intra)
        index_offset = len(out)
        out += write_chunk(ChunkType.INDEX, index) + write_chunk(ChunkType.END, struct.pack("<IQ", frames, index_offset))
    return bytes(out + parsed.trailing)


def section_boundaries(data: bytes) -> list[int]:
    """Every offset where a header, a chunk's or compact unit's type and length, or a chunk or unit ends
    (truncation points)."""
    size = header_size(data)
    if size is None:
        return []
    points = [size, size + _CRC.size]
    for span in _spans(data):
        points.append(span.body)
        if span.end <= len(data):
            points.append(span.end)
    return sorted(set(points))


# --- mutations -----------------------------------------------------------------------------------

INTERESTING_U32 = (0, 1, 2, 3, 15, 16, 17, 63, 64, 65, 255, 256, 4095, 4096, 8192, 8193, 60000, 65535, 65536, 65537,
                   1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1)
INTERESTING_F32 = (0.0, -0.0, 1.0, 0.999, 1.5, 3.0, 10.0, 10.0001, 11.0, 64.0, -1.0, 1e30, -1e30, math.inf, -math.inf,
                   math.nan, 1e-30)
# A compact unit's quality in 1/1024ths of a level: below level 1, level 1, the tiny models' top level (10), just
# above it, the u16 range's ends.
INTERESTING_QUALITY_UNITS = (0, 1, 1023, 1024, 1025, 3072, 10239, 10240, 10241, 11264, 32768, 65535)


def _uint(rng: random.Random, interesting: Sequence[int], bits: int) -> int:
    """A boundary value most of the time, else any ``bits``-bit one."""
    return rng.choice(interesting) if rng.random() < 0.7 else rng.getrandbits(bits)


def _u32(rng: random.Random) -> int:
    return _uint(rng, INTERESTING_U32, 32)


def _f32(rng: random.Random) -> float:
    return rng.choice(INTERESTING_F32) if rng.random() < 0.7 else struct.unpack("<f", rng.randbytes(4))[0]


def bit_flips(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        position = rng.randrange(len(out))
        out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    points = section_boundaries(data)
    cut = rng.choice(points) + rng.choice((-1, 0, 0, 1)) if points and rng.random() < 0.6 else rng.randrange(len(data))
    return data[: max(cut, 0)]


def insertion(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    position = rng.randrange(len(data) + 1)
    return data[:position] + rng.randbytes(rng.choice((1, 1, 2, 4, 16))) + data[position:]


def deletion(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    position = rng.randrange(len(data))
    return data[:position] + data[position + rng.choice((1, 1, 2, 4, 16)) :]


def _set(parsed: Parsed, fmt: str, offset: int, value: float) -> None:
    size = struct.calcsize(fmt)
    if offset + size <= len(parsed.header):
        parsed.header[offset : offset + size] = struct.pack(fmt, value)


def random_header(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """One to three header fields set to random or boundary values; the header CRC recomputed."""
    parsed = parse(data)
    if parsed is None:
        return bit_flips(data, rng, seeds)
    for _ in range(rng.randint(1, 3)):
        if not parsed.is_video:  # magic, version, coder, model id, hash, width, height, quality
            field_ = rng.choice(("version", "coder", "model", "hash", "width", "height", "quality", "size"))
            if field_ == "version":
                _set(parsed, "<B", 4, rng.choice((0, 1, 2, 3, 255)))
            elif field_ == "coder":
                _set(parsed, "<B", 5, rng.choice((0, 1, 2, 3, 255)))
            elif field_ == "model":
                _set(parsed, "<H", 6, rng.choice((0, 7, 8, 20, 65535)))
            elif field_ == "hash":
                parsed.header[8:16] = rng.randbytes(8)
            elif field_ in ("width", "height"):
                _set(parsed, "<I", 16 if field_ == "width" else 20, _u32(rng))
            elif field_ == "quality":
                _set(parsed, "<f", 24, _f32(rng))
            else:
                _set(parsed, "<I", 16, _u32(rng))
                _set(parsed, "<I", 20, _u32(rng))
        elif parsed.header[4] != 1:  # magic, version, coder, width, height, fps num, fps den, count, table[, passes]
            field_ = rng.choice(("version", "coder", "width", "height", "fps", "count", "table", "passes", "size"))
            if field_ == "version":
                _set(parsed, "<B", 4, rng.choice((0, 1, 3, 5, 6, 7, 255)))
            elif field_ == "coder":
                _set(parsed, "<B", 5, rng.choice((0, 1, 3, 255)))
            elif field_ in ("width", "height"):
                _set(parsed, "<I", 6 if field_ == "width" else 10, _u32(rng))
            elif field_ == "fps":
                _set(parsed, "<I", rng.choice((14, 18)), _u32(rng))
            elif field_ == "count":
                _set(parsed, "<B", 22, rng.choice((0, 1, 2, 3, 5, 255)))
            elif field_ == "table" and len(parsed.header) >= 23 + 11:  # at least one whole table entry
                entry = 23 + 11 * rng.randrange((len(parsed.header) - 23) // 11)
                _set(parsed, "<B", entry, rng.choice((0, 1, 2, 3)))
                _set(parsed, "<H", entry + 1, rng.choice((0, 7, 8, 20, 65535)))
            elif field_ == "passes" and parsed.compact:  # the header's last bytes
                offset = len(parsed.header) - 1 - rng.randrange(_PASSES_BYTES)
                _set(parsed, "<B", offset, rng.choice((0, 1, 2, 8, 9, 255)))
            else:
                _set(parsed, "<I", 6, _u32(rng))
                _set(parsed, "<I", 10, _u32(rng))
        else:  # version 1: magic, version, coder, model id, hash, width, height, fps num, fps den
            offset, fmt = rng.choice(((4, "<B"), (5, "<B"), (6, "<H"), (16, "<I"), (20, "<I"), (24, "<I"), (28, "<I")))
            if fmt == "<B":
                _set(parsed, fmt, offset, rng.choice((0, 1, 2, 255)))
            else:
                _set(parsed, fmt, offset, _u32(rng) & (0xFFFF if fmt == "<H" else 0xFFFFFFFF))
    return build(parsed, fix_index=rng.random() < 0.8)


def huge_claim(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """The header (CRC right) claims a large picture: beyond the limits, or within them but far beyond
    what the sections can hold."""
    parsed = parse(data)
    if parsed is None:
        return data
    width, height = rng.choice(((60000, 60000), (65536, 65536), (8192, 8192), (65536, 1024), (4096, 4096),
                                (1920, 1080), (640, 480), (1, 65536), (rng.randint(1, 9000), rng.randint(1, 9000))))
    offsets = (16, 20) if not parsed.is_video else ((16, 20) if parsed.header[4] == 1 else (6, 10))
    _set(parsed, "<I", offsets[0], width)
    _set(parsed, "<I", offsets[1], height)
    return build(parsed)


def _damaged(payload: bytes, rng: random.Random) -> bytes:
    out = bytearray(payload)
    kind = rng.choice(("flip", "flip", "zero", "random", "insert", "delete", "empty", "words", "ones"))
    if kind == "flip" and out:
        for _ in range(rng.choice((1, 2, 4))):
            position = rng.randrange(len(out))
            out[position] ^= 1 << rng.randrange(8)
    elif kind == "zero" and out:
        start = rng.randrange(len(out))
        end = min(len(out), start + rng.choice((1, 4, 16, len(out))))
        out[start:end] = bytes(end - start)
    elif kind == "random":
        out = bytearray(rng.randbytes(rng.choice((len(out), 4 * rng.randint(0, 64), rng.randint(0, 300)))))
    elif kind == "insert":
        position = rng.randrange(len(out) + 1)
        out[position:position] = rng.randbytes(rng.choice((1, 4, 8)))
    elif kind == "delete" and out:
        position = rng.randrange(len(out))
        del out[position : position + rng.choice((1, 4, 8))]
    elif kind == "empty":
        out = bytearray()
    elif kind == "words" and len(out) >= 8:  # swap two 32-bit words: still a whole number of words
        a, b = rng.randrange(len(out) // 4), rng.randrange(len(out) // 4)
        out[4 * a : 4 * a + 4], out[4 * b : 4 * b + 4] = out[4 * b : 4 * b + 4], out[4 * a : 4 * a + 4]
    elif kind == "ones":
        out = bytearray(b"\xff" * len(out))
    return bytes(out)


def payload_damage(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """One chunk's payload damaged, its CRC recomputed (and the index): the entropy decoder sees it."""
    parsed = parse(data)
    if parsed is None or not parsed.chunks:
        return bit_flips(data, rng, seeds)
    sections = [i for i, (t, p) in enumerate(parsed.chunks)
                if t in (ChunkType.HYPER, ChunkType.LATENT) or _stream_start(parsed, t, p) is not None]
    index = rng.choice(sections) if sections and rng.random() < 0.85 else rng.randrange(len(parsed.chunks))
    chunk_type, payload = parsed.chunks[index]
    start = _stream_start(parsed, chunk_type, payload) or 0  # a one-stream frame: keep its head
    stream = _damaged(payload[start:], rng)
    if parsed.is_unit(chunk_type) and rng.random() < 0.9:  # mostly past the reader's check of the stream's end
        stream = stream.rstrip(b"\0")
    parsed.chunks[index] = (chunk_type, payload[:start] + stream)
    return build(parsed, fix_index=rng.random() < 0.9)


def _stream_start(parsed: Parsed, chunk_type: int, payload: bytes) -> int | None:
    """Where the entropy-coded stream starts in a frame's payload: after a compact unit's quality (.tngv version 6
    on), after a FRAME chunk's 7-byte head (version 5); None for other chunks."""
    if parsed.is_unit(chunk_type):
        head = _QUALITY.size
    elif parsed.is_video and parsed.header[4] >= 5 and chunk_type == ChunkType.FRAME:
        head = 7
    else:
        return None
    return head if len(payload) >= head else None


def frame_fields(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """A frame's head changed (CRC right): a FRAME chunk's type, quality or section counts, or a compact unit's
    kind, quality, length field or stream end."""
    parsed = parse(data)
    frames = [i for i, (t, _) in enumerate(parsed.chunks) if parsed.starts_frame(t)] if parsed else []
    if parsed is None or not frames:
        return random_header(data, rng, seeds)
    index = rng.choice(frames)
    if parsed.compact:
        return _unit_fields(data, parsed, index, rng)
    head = bytearray(parsed.chunks[index][1])
    field_ = rng.choice(("type", "quality", "motion", "latent", "length"))
    if field_ == "type":
        head[0] = rng.choice((0, 1, 2, 3, 255))
    elif field_ == "quality" and len(head) >= 5:
        head[1:5] = struct.pack("<f", _f32(rng))
    elif field_ == "motion" and len(head) >= 6:
        head[5] = rng.choice((0, 1, 2, 8, 9, 255))
    elif field_ == "latent" and len(head) >= 6:
        head[5 if parsed.header[4] == 1 else 6 if len(head) > 6 else -1] = rng.choice((0, 1, 2, 8, 9, 255))
    else:
        head = head[: rng.randrange(len(head))] if rng.random() < 0.5 else head + rng.randbytes(2)
    parsed.chunks[index] = (ChunkType.FRAME, bytes(head))
    return build(parsed, fix_index=rng.random() < 0.9)


def _unit_fields(data: bytes, parsed: Parsed, index: int, rng: random.Random) -> bytes:
    """Compact unit ``index``'s kind (mostly I <-> P), quality or length field changed, or its stream cut (often
    to nothing, or the quality too) or lengthened (by zero bytes too, which the reader refuses); CRCs right."""
    kind, payload = parsed.chunks[index]
    field_ = rng.choice(("kind", "quality", "length", "stream"))
    if field_ == "length":
        return _length_damage(data, _spans(data)[index], rng)  # parse's chunks are the file's first spans
    if field_ == "kind":
        if kind in _UNIT_FRAME_TYPES and rng.random() < 0.6:
            kind = ChunkType.INTRA_FRAME + ChunkType.INTER_FRAME - kind
        else:
            kind = rng.choice((0, 1, 2, 3, 8, 255))
    elif field_ == "quality" and len(payload) >= _QUALITY.size:
        payload = _QUALITY.pack(_uint(rng, INTERESTING_QUALITY_UNITS, 16)) + payload[_QUALITY.size :]
    elif rng.random() < 0.5:
        payload = payload[: rng.choice((0, 1, _QUALITY.size, rng.randrange(len(payload) + 1)))]
    else:
        payload += rng.randbytes(2) if rng.random() < 0.5 else bytes(rng.randint(1, 4))
    parsed.chunks[index] = (kind, payload)
    return build(parsed, fix_index=rng.random() < 0.9)


def _length_damage(data: bytes, unit: _Span, rng: random.Random) -> bytes:
    """``unit``'s LEB128 length field rewritten, its CRC right over the unit's bytes as laid out: its length in more
    bytes than needed or allowed, its continuation bits all set, or another length (the reader then takes its
    CRC from elsewhere)."""
    length = unit.end - _CRC.size - unit.body
    fewest = unit.body - unit.start - 1
    field_ = rng.choice((_leb128(length, rng.randint(fewest + 1, _MAX_LENGTH_BYTES + 1)),
                         bytes(byte | 0x80 for byte in _leb128(length)),
                         _leb128(max(length + rng.choice((-length, -1, 1, 2, 1 << 20, 1 << 27)), 0))))
    head = data[unit.start : unit.start + 1] + field_
    return data[: unit.start] + _with_crc(head + data[unit.body : unit.end - _CRC.size]) + data[unit.end :]


def chunk_shuffle(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """Chunks (and compact units) swapped, dropped, duplicated, moved or retyped (CRCs right)."""
    parsed = parse(data)
    if parsed is None or len(parsed.chunks) < 2:
        return bit_flips(data, rng, seeds)
    chunks = parsed.chunks
    a, b = rng.randrange(len(chunks)), rng.randrange(len(chunks))
    kind = rng.choice(("swap", "drop", "duplicate", "move", "retype"))
    if kind == "swap":
        chunks[a], chunks[b] = chunks[b], chunks[a]
    elif kind == "drop":
        del chunks[a]
    elif kind == "duplicate":
        chunks.insert(b, chunks[a])
    elif kind == "move":
        chunks.insert(b, chunks.pop(a))
    else:
        chunks[a] = (rng.choice((0, 1, 2, 3, 4, 5, 6, 7, 255)), chunks[a][1])
    return build(parsed, fix_index=rng.random() < 0.8)


def splice(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """A section (or a whole frame unit) taken from another seed: same-type chunks swapped between files."""
    parsed = parse(data)
    donor = parse(seeds.seeds[rng.choice(seeds.names)])
    if parsed is None or donor is None or not parsed.chunks or not donor.chunks:
        return bit_flips(data, rng, seeds)
    if rng.random() < 0.25 and parsed.is_video and donor.is_video:  # whole frame units
        units = _frame_units(donor)
        mine = _frame_units(parsed)
        if units and mine:
            start, end = rng.choice(mine)
            d_start, d_end = rng.choice(units)
            parsed.chunks[start:end] = donor.chunks[d_start:d_end]
            return build(parsed)
    index = rng.randrange(len(parsed.chunks))
    same = [c for c in donor.chunks if c[0] == parsed.chunks[index][0]]
    parsed.chunks[index] = rng.choice(same) if same and rng.random() < 0.8 else rng.choice(donor.chunks)
    return build(parsed, fix_index=rng.random() < 0.9)


def _frame_units(parsed: Parsed) -> list[tuple[int, int]]:
    """(start, end) chunk index ranges of the frame units of a stream (a FRAME chunk and the section chunks after
    it, or a compact unit)."""
    chunks = parsed.chunks
    starts = [i for i, (t, _) in enumerate(chunks) if parsed.starts_frame(t)]
    ends = [*starts[1:], next((i for i, (t, _) in enumerate(chunks) if t in (ChunkType.INDEX, ChunkType.END)),
                              len(chunks))]
    return list(zip(starts, ends, strict=True))


def garbage(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """A random file, sometimes with a right magic (and a right header CRC)."""
    body = rng.randbytes(rng.choice((0, 1, 4, 5, 40, 200, 2000)))
    if rng.random() < 0.5:
        return body
    magic = rng.choice((IMAGE_MAGIC, VIDEO_MAGIC))
    size = 28 if magic == IMAGE_MAGIC else rng.choice((32, 34, 37))  # .tngv: version 1, 2 to 5, 6 with one model
    head = magic + bytes([rng.choice((1, 2, COMPACT_FRAME_VERSION))]) + rng.randbytes(size - 5)
    if magic == VIDEO_MAGIC and size > 32:
        head = head[:22] + bytes([1]) + head[23:]
    return _with_crc(head) + body


Mutation = Callable[[bytes, random.Random, SeedSet], bytes]
MUTATIONS: dict[str, Mutation] = {
    "bit_flips": bit_flips,
    "truncation": truncation,
    "insertion": insertion,
    "deletion": deletion,
    "random_header": random_header,
    "huge_claim": huge_claim,
    "payload_damage": payload_damage,
    "frame_fields": frame_fields,
    "chunk_shuffle": chunk_shuffle,
    "splice": splice,
    "garbage": garbage,
}


def mutate(data: bytes, rng: random.Random, seeds: SeedSet, kind: str | None = None, rounds: int = 1) -> tuple[str, bytes]:
    """``rounds`` mutations of ``data`` (kind: ``kind`` or chosen at random); the kinds applied, joined by '+'."""
    kinds = []
    for _ in range(rounds):
        chosen = kind or rng.choice(sorted(MUTATIONS))
        try:
            data = MUTATIONS[chosen](data, rng, seeds) if data else garbage(data, rng, seeds)
        except (ValueError, IndexError):  # an earlier round left too little for this kind (an empty range)
            chosen, data = "garbage", garbage(data, rng, seeds)
        kinds.append(chosen)
    return "+".join(kinds), data


# --- decoding ------------------------------------------------------------------------------------


class OutcomeError(AssertionError):
    """A decode that returned something other than pictures of the header's size."""


def decode(data: bytes, decoders: Decoders) -> str:
    """Decode ``data`` as the CLI would; "ok: ..." on success. A TngError propagates (the expected
    failure); anything else is a bug, as is a decode whose output does not match its header."""
    if data[:4] == VIDEO_MAGIC:
        video = open_tngv(data, decoders.video)
        count = 0
        for picture in video.frames():
            _check_picture(picture, video.header.height, video.header.width)
            count += 1
        if count != len(video.coded_frames):
            raise OutcomeError(f"{count} frames decoded, {len(video.coded_frames)} in the file")
        return f"ok: {count} frames {video.header.width}x{video.header.height}"
    from tngvideo.bitstream import unpack_image

    picture = decode_image(data, decoders.image_codec(data))
    header, _ = unpack_image(data)
    _check_picture(picture, header.height, header.width)
    return f"ok: picture {header.width}x{header.height}"


def _check_picture(picture: np.ndarray, height: int, width: int) -> None:
    if picture.dtype != np.uint8 or picture.shape != (height, width, 3):
        raise OutcomeError(f"decoded {picture.dtype} {picture.shape}, header says {height}x{width}")


def peak_rss_kib() -> int | None:
    """The process's peak resident memory (VmHWM, KiB) since the last reset, where /proc tells it."""
    try:
        match = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def reset_peak_rss() -> bool:
    """Reset the peak to the current resident memory (Linux: clear_refs 5); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def classify(data: bytes, decoders: Decoders) -> tuple[str, str]:
    """(outcome, detail): "ok", "error" (a TngError: the expected failure) or "uncaught" (anything else)."""
    try:
        return "ok", decode(data, decoders)
    except TngError as exc:
        return "error", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    except Exception as exc:  # noqa: BLE001 (the fuzzer's whole point: record it)
        return "uncaught", f"{type(exc).__name__}: {exc}"
