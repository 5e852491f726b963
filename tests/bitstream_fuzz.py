"""Fuzzing both bitstreams: seeds, mutations and the decode-and-classify step, shared by
``tests/test_fuzz.py`` (hypothesis drives the choices, CI runs a few hundred cases) and
``scripts/fuzz_bitstreams.py`` (a seeded ``random.Random`` drives them, a long campaign).

Seeds are real files: .tng pictures (one and two LATENT chunks) and .tngv streams (I- and P-frames,
and all-intra) made with the tiny random-init models of ``tiny_model.py``, and, when asked, files of
the shipped weights (a .tng picture and the version-1 .tngv sample). Mutations work on raw bytes
(bit flips, truncation, inserted and deleted bytes) and on the parsed structure with every CRC
recomputed, so the damage reaches the header checks, the structure checks, the entropy decoder and
the networks (random header fields, a chunk's payload damaged, chunks swapped, dropped, duplicated or
retyped, FRAME fields changed, sections spliced in from another seed, header claims of huge pictures).

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
    return pack_video(VideoHeader(CODER_ID, models.table(), width, height, Fraction(25), version), units)


def tiny_seeds() -> SeedSet:
    """Seeds made with the tiny models: .tng with one and two LATENT chunks, a .tngv with I- and
    P-frames (GOP 3: I P P I P) in the one-chunk frames of version 5 and the chunked frames of version 4,
    an all-intra .tngv; odd and even sizes."""
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


@dataclass
class Parsed:
    """A .tng/.tngv file as header fields + chunks, tolerant of anything after a valid start."""

    magic: bytes
    header: bytearray  # without its CRC
    chunks: list[tuple[int, bytes]]  # (type, payload)
    trailing: bytes  # bytes after the last whole chunk

    @property
    def is_video(self) -> bool:
        return self.magic == VIDEO_MAGIC


def header_size(data: bytes) -> int | None:
    """Size of the header (without CRC) of a .tng / .tngv file, or None when it cannot be told."""
    if data[:4] == IMAGE_MAGIC:
        return 28
    if data[:4] == VIDEO_MAGIC and len(data) > 4:
        if data[4] == 1:
            return 32
        if len(data) > 22:
            return 23 + 11 * data[22]
    return None


def parse(data: bytes) -> Parsed | None:
    size = header_size(data)
    if size is None or len(data) < size + 4:
        return None
    offset = size + 4
    chunks = []
    while offset + _CHUNK_HEAD.size + 4 <= len(data):
        chunk_type, length = _CHUNK_HEAD.unpack_from(data, offset)
        end = offset + _CHUNK_HEAD.size + length + 4
        if end > len(data):
            break
        chunks.append((chunk_type, bytes(data[offset + _CHUNK_HEAD.size : end - 4])))
        offset = end
    return Parsed(bytes(data[:4]), bytearray(data[:size]), chunks, bytes(data[offset:]))


def build(parsed: Parsed, fix_index: bool = True) -> bytes:
    """Bytes of ``parsed`` with every CRC right; for a stream of version 2 on, ``fix_index`` rewrites the INDEX and
    END chunks to match the frames (so the damage is not caught by the index alone)."""
    head = bytes(parsed.header)
    out = bytearray(head + _CRC.pack(zlib.crc32(head)))
    indexed = parsed.is_video and len(head) > 4 and head[4] >= 2  # versions with an INDEX chunk
    intra: list[tuple[int, int]] = []
    frames = 0
    for chunk_type, payload in parsed.chunks:
        if indexed and fix_index and chunk_type in (ChunkType.INDEX, ChunkType.END):
            continue
        if chunk_type == ChunkType.FRAME:
            if payload[:1] == bytes([FrameType.INTRA]):
                intra.append((frames, len(out)))
            frames += 1
        out += write_chunk(chunk_type, payload)
    if indexed and fix_index:
        index = struct.pack("<I", len(intra)) + b"".join(struct.pack("<IQ", n, o) for n, o in intra)
        index_offset = len(out)
        out += write_chunk(ChunkType.INDEX, index) + write_chunk(ChunkType.END, struct.pack("<IQ", frames, index_offset))
    return bytes(out + parsed.trailing)


def section_boundaries(data: bytes) -> list[int]:
    """Every offset where a header or chunk ends (truncation points)."""
    size = header_size(data)
    if size is None:
        return []
    points = [size, size + 4]
    offset = size + 4
    while offset + _CHUNK_HEAD.size <= len(data):
        _, length = _CHUNK_HEAD.unpack_from(data, offset)
        points.append(offset + _CHUNK_HEAD.size)
        offset += _CHUNK_HEAD.size + length + 4
        if offset > len(data):
            break
        points.append(offset)
    return sorted(set(points))


# --- mutations -----------------------------------------------------------------------------------

INTERESTING_U32 = (0, 1, 2, 3, 15, 16, 17, 63, 64, 65, 255, 256, 4095, 4096, 8192, 8193, 60000, 65535, 65536, 65537,
                   1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1)
INTERESTING_F32 = (0.0, -0.0, 1.0, 0.999, 1.5, 3.0, 10.0, 10.0001, 11.0, 64.0, -1.0, 1e30, -1e30, math.inf, -math.inf,
                   math.nan, 1e-30)


def _u32(rng: random.Random) -> int:
    return rng.choice(INTERESTING_U32) if rng.random() < 0.7 else rng.getrandbits(32)


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
        elif parsed.header[4] == 2:  # magic, version, coder, width, height, fps num, fps den, count, table
            field_ = rng.choice(("version", "coder", "width", "height", "fps", "count", "table", "size"))
            if field_ == "version":
                _set(parsed, "<B", 4, rng.choice((0, 1, 3, 255)))
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
    start = _stream_start(parsed, chunk_type, payload) or 0  # a one-chunk frame: keep its head
    parsed.chunks[index] = (chunk_type, payload[:start] + _damaged(payload[start:], rng))
    return build(parsed, fix_index=rng.random() < 0.9)


def _stream_start(parsed: Parsed, chunk_type: int, payload: bytes) -> int | None:
    """Where the entropy-coded stream starts in a FRAME chunk of .tngv version 5 on (after its 7-byte head);
    None for other chunks."""
    if not (parsed.is_video and parsed.header[4] >= 5 and chunk_type == ChunkType.FRAME and len(payload) >= 7):
        return None
    return 7


def frame_fields(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """A FRAME chunk's type, quality or section counts changed (CRC right)."""
    parsed = parse(data)
    frames = [i for i, (t, _) in enumerate(parsed.chunks) if t == ChunkType.FRAME] if parsed else []
    if parsed is None or not frames:
        return random_header(data, rng, seeds)
    index = rng.choice(frames)
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


def chunk_shuffle(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """Chunks swapped, dropped, duplicated, moved or retyped (CRCs right)."""
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
        chunks[a] = (rng.choice((0, 1, 2, 3, 4, 5, 6, 255)), chunks[a][1])
    return build(parsed, fix_index=rng.random() < 0.8)


def splice(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """A section (or a whole frame unit) taken from another seed: same-type chunks swapped between files."""
    parsed = parse(data)
    donor = parse(seeds.seeds[rng.choice(seeds.names)])
    if parsed is None or donor is None or not parsed.chunks or not donor.chunks:
        return bit_flips(data, rng, seeds)
    if rng.random() < 0.25 and parsed.is_video and donor.is_video:  # whole frame units
        units = _frame_units(donor.chunks)
        mine = _frame_units(parsed.chunks)
        if units and mine:
            start, end = rng.choice(mine)
            d_start, d_end = rng.choice(units)
            parsed.chunks[start:end] = donor.chunks[d_start:d_end]
            return build(parsed)
    index = rng.randrange(len(parsed.chunks))
    same = [c for c in donor.chunks if c[0] == parsed.chunks[index][0]]
    parsed.chunks[index] = rng.choice(same) if same and rng.random() < 0.8 else rng.choice(donor.chunks)
    return build(parsed, fix_index=rng.random() < 0.9)


def _frame_units(chunks: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """(start, end) chunk index ranges of the frame units of a stream."""
    starts = [i for i, (t, _) in enumerate(chunks) if t == ChunkType.FRAME]
    ends = [*starts[1:], next((i for i, (t, _) in enumerate(chunks) if t in (ChunkType.INDEX, ChunkType.END)),
                              len(chunks))]
    return list(zip(starts, ends, strict=True))


def garbage(data: bytes, rng: random.Random, seeds: SeedSet) -> bytes:
    """A random file, sometimes with a right magic (and a right header CRC)."""
    body = rng.randbytes(rng.choice((0, 1, 4, 5, 40, 200, 2000)))
    if rng.random() < 0.5:
        return body
    magic = rng.choice((IMAGE_MAGIC, VIDEO_MAGIC))
    size = 28 if magic == IMAGE_MAGIC else rng.choice((32, 34))
    head = magic + bytes([rng.choice((1, 2))]) + rng.randbytes(size - 5)
    if magic == VIDEO_MAGIC and size == 34:
        head = head[:22] + bytes([1]) + head[23:]
    return head + _CRC.pack(zlib.crc32(head)) + body


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
