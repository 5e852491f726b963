"""Untrusted bitstreams: every mutated .tng/.tngv file decodes or fails with a typed error, in bounded
time and memory; header claims are checked against the file before anything is allocated.

The mutation engine is ``tests/bitstream_fuzz.py`` (shared with ``scripts/fuzz_bitstreams.py``, the
long campaign); here hypothesis drives it for a few hundred cases.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import signal
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
import pytest
from bitstream_fuzz import (
    MUTATIONS,
    SeedSet,
    build,
    classify,
    mutate,
    parse,
    peak_rss_kib,
    reset_peak_rss,
    section_boundaries,
    shipped_seeds,
    tiny_seeds,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_model import tiny_codec, tiny_loaded

from tngvideo.bitstream import (
    IMAGE_MAGIC,
    MAX_PIXELS,
    VIDEO_MAGIC,
    ChunkType,
    CodedFrame,
    FrameType,
    ModelIdentity,
    ModelRole,
    VideoHeader,
    pack_video,
    unpack_image,
    unpack_video,
    write_chunk,
)
from tngvideo.entropy.coder import StreamReader, encode_symbols
from tngvideo.errors import BitstreamError, TngError
from tngvideo.plausibility import least_bits_per_symbol, section_capacity
from tngvideo.tng_image import decode_image, encode_image
from tngvideo.tng_video import open_tngv

CASE_SECONDS = 10.0  # a case taking longer is a hang (the campaign's bound too)
CASE_MEMORY_KIB = 512 * 1024  # a tiny seed's case may not grow the peak resident memory by more
# The tiny seeds with I- and P-frames, one per frame layout still read, and their format versions.
P_FRAME_SEEDS = {"tiny-ip-gop3.tngv": 7, "tiny-ip-gop3-v6.tngv": 6, "tiny-ip-gop3-v5.tngv": 5,
                 "tiny-ip-gop3-v4.tngv": 4}


class CaseTimeout(BaseException):  # a BaseException: no decoder's except clause may swallow it
    """A case ran past CASE_SECONDS."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the case (SIGALRM) after ``seconds``; the elapsed time is asserted by the caller too."""

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"case ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_case(data: bytes, seeds: SeedSet, memory_kib: int | None = CASE_MEMORY_KIB) -> tuple[str, str]:
    """Classify one case under the time bound (and the memory bound, where /proc can tell)."""
    reset = reset_peak_rss()
    before = peak_rss_kib()
    started = time.perf_counter()
    with _time_limit(CASE_SECONDS):
        outcome, detail = classify(data, seeds.decoders)
    elapsed = time.perf_counter() - started
    assert outcome in ("ok", "error"), f"{outcome}: {detail}"
    assert elapsed < CASE_SECONDS, f"{elapsed:.1f} s: {detail}"
    if reset and memory_kib is not None and before is not None:
        grown = (peak_rss_kib() or 0) - before
        assert grown < memory_kib, f"peak memory grew by {grown // 1024} MiB: {detail}"
    return outcome, detail


@pytest.fixture(scope="module")
def seeds() -> SeedSet:
    return tiny_seeds()


def test_every_seed_decodes(seeds: SeedSet) -> None:
    """Every seed decodes, and the P-frame seeds hold I- and P-frames in each layout, as the fuzzer reads them."""
    for name in seeds.names:
        assert _run_case(seeds.seeds[name], seeds)[0] == "ok", name
    for name, version in P_FRAME_SEEDS.items():
        assert seeds.seeds[name][4] == version, name
        assert _frame_types(seeds.seeds[name]) == [FrameType.INTRA, FrameType.INTER, FrameType.INTER, FrameType.INTRA,
                                                   FrameType.INTER], name


def _frame_types(data: bytes) -> list[int]:
    """Each frame's type as the fuzzer's parser reads it from the whole file: a FRAME chunk's first byte (versions
    up to 5), a compact unit's kind (version 6 on)."""
    parsed = parse(data)
    assert parsed is not None and not parsed.trailing
    return [t for t in (parsed.frame_type(kind, payload) for kind, payload in parsed.chunks) if t is not None]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    choices=st.data(),
    kind=st.sampled_from(sorted(MUTATIONS)),
    rounds=st.integers(1, 3),
    salt=st.integers(0, 2**32 - 1),
)
def test_every_mutated_file_decodes_or_fails_with_a_typed_error(
    seeds: SeedSet, choices: st.DataObject, kind: str, rounds: int, salt: int
) -> None:
    """Bit flips, truncation, inserted and deleted bytes, random headers, damaged payloads with their CRCs
    made right, chunks shuffled, sections swapped between files (see bitstream_fuzz.MUTATIONS), on every seed."""
    rng = random.Random(salt)
    name = choices.draw(st.sampled_from(seeds.names), label="seed")
    _, data = mutate(seeds.seeds[name], rng, seeds, kind)
    if rounds > 1:
        _, data = mutate(data, rng, seeds, rounds=rounds - 1)
    _run_case(data, seeds)


def test_truncation_at_every_section_boundary_is_a_typed_error(seeds: SeedSet) -> None:
    for name in seeds.names:
        data = seeds.seeds[name]
        for point in section_boundaries(data)[:-1]:
            for cut in (point - 1, point, point + 1):
                if 0 <= cut < len(data):
                    outcome, detail = _run_case(data[:cut], seeds)
                    assert outcome == "error", f"{name} cut at {cut}: {detail}"


def test_a_40_byte_file_claiming_60000x60000_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    head = struct.pack("<4sBBH8sIIf", IMAGE_MAGIC, 1, 2, 7, bytes(range(8)), 60000, 60000, 3.0)
    data = head + struct.pack("<I", zlib.crc32(head)) + write_chunk(ChunkType.HYPER, b"")[:8]
    assert len(data) == 40
    monkeypatch.setattr(StreamReader, "read", _never_called)
    started = time.perf_counter()
    with pytest.raises(BitstreamError, match=f"60000x60000 is over the format's limit of {MAX_PIXELS} pixels") as caught:
        decode_image(data, tiny_loaded())
    assert time.perf_counter() - started < 0.5 and "\n" not in str(caught.value)
    head = struct.pack("<4sBBIIIIB", VIDEO_MAGIC, 2, 2, 60000, 60000, 25, 1, 1) + struct.pack("<BH8s", 1, 7, bytes(8))
    with pytest.raises(BitstreamError, match="60000x60000"):
        unpack_video(head + struct.pack("<I", zlib.crc32(head)))


def _never_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("entropy decoding ran")


def _with_size(data: bytes, width: int, height: int) -> bytes:
    """A .tng file whose header (CRC right) claims another picture size."""
    head = bytearray(data[:28])
    head[16:24] = struct.pack("<II", width, height)
    return bytes(head) + struct.pack("<I", zlib.crc32(head)) + data[32:]


@pytest.mark.parametrize(("width", "height"), [(8192, 8192), (4096, 4096), (1920, 1080), (65536, 1024)])
def test_header_claims_larger_than_the_file_are_refused_before_decoding(
    seeds: SeedSet, monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    """Within MAX_PIXELS, a claim is checked against the sections' lengths (tngvideo.plausibility): a
    74-byte file cannot hold a 1920x1080 picture's symbols, so nothing is decoded or allocated."""
    data = _with_size(seeds.seeds["tiny-64x48.tng"], width, height)
    monkeypatch.setattr(StreamReader, "read", _never_called)
    with pytest.raises(BitstreamError, match="cannot hold|over the format's limit") as caught:
        decode_image(data, seeds.decoders.images[7])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["tiny-ip-gop3.tngv", "tiny-ip-gop3-v5.tngv"])
@pytest.mark.parametrize(("width", "height"), [(4096, 4096), (1920, 1080)])
def test_a_streams_size_claim_is_checked_against_each_frames_one_stream(
    seeds: SeedSet, monkeypatch: pytest.MonkeyPatch, name: str, width: int, height: int
) -> None:
    """The same for .tngv (formats 5 and 6): a frame's one stream must hold every symbol of its tensors together."""
    parsed = parse(seeds.seeds[name])
    assert parsed is not None
    struct.pack_into("<II", parsed.header, 6, width, height)
    monkeypatch.setattr(StreamReader, "read", _never_called)
    with pytest.raises(BitstreamError, match="frame 0: .* bytes cannot hold the symbols") as caught:
        open_tngv(build(parsed), seeds.decoders.video)
    assert "\n" not in str(caught.value)


def test_every_chunk_crc_is_checked_before_entropy_decoding(seeds: SeedSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StreamReader, "read", _never_called)
    for name in seeds.names:
        data = seeds.seeds[name]
        points = section_boundaries(data)
        for start, end in itertools.pairwise([0, *points]):  # every section's bytes, the header's too
            flipped = bytearray(data)
            flipped[(start + end) // 2] ^= 0x01
            with pytest.raises(TngError, match="checksum|truncated|unexpected|malformed|type|magic"):
                if name.endswith(".tng"):
                    decode_image(bytes(flipped), seeds.decoders.image_codec(data))
                else:
                    unpack_video(bytes(flipped))


def test_the_section_bound_holds_for_the_most_probable_symbols() -> None:
    """What plausibility assumes: no section codes more symbols than its bytes allow, even when every symbol
    is the most probable one of the most certain pmf (ANS's cheapest case)."""
    tables = tiny_codec().tables
    for table in (tables.hyper, tables.latent):
        bits = least_bits_per_symbol(table)
        group = int(np.argmin(bits))
        mode = int(np.argmax(table.pmfs[group])) - int(table.supports[group])
        for count in (1, 1000, 200_000):
            data = encode_symbols(np.full(count, mode), np.full(count, group), table)
            assert count <= section_capacity(len(data), float(bits[group])), (count, len(data))
            # and the bound is not loose by orders of magnitude (it would then refuse nothing)
            if count == 200_000:
                assert section_capacity(len(data), float(bits[group])) < 20 * count


def test_flat_pictures_the_encoder_writes_are_never_refused() -> None:
    """The cheapest pictures there are (flat grey, large) pass the plausibility check and decode."""
    for context in ("none", "checkerboard"):
        loaded = tiny_loaded(context=context)  # type: ignore[arg-type]
        flat = np.full((256, 320, 3), 128, dtype=np.uint8)
        encoded = encode_image(flat, 1.0, loaded)
        header, _ = unpack_image(encoded.data)
        np.testing.assert_array_equal(decode_image(encoded.data, loaded), encoded.reconstruction)
        assert header.width == 320


def test_a_section_from_another_file_is_a_typed_error_or_a_decode(seeds: SeedSet) -> None:
    """Every HYPER/LATENT chunk of every seed placed into every slot of the version-4 P-frame stream, and in the
    version-5 and version-6 ones every frame's stream after every frame's head (a FRAME chunk's 7 bytes, a compact
    unit's quality; CRCs and lengths right)."""
    target = parse(seeds.seeds["tiny-ip-gop3-v4.tngv"])
    assert target is not None
    donors = [chunk for name in seeds.names for chunk in (parse(seeds.seeds[name]) or target).chunks
              if chunk[0] in (ChunkType.HYPER, ChunkType.LATENT)]
    rng = random.Random(0)
    slots = [i for i, (t, _) in enumerate(target.chunks) if t in (ChunkType.HYPER, ChunkType.LATENT)]
    assert len(slots) >= 10
    for slot in slots:
        for donor in rng.sample(donors, 4):
            chunks = list(target.chunks)
            chunks[slot] = donor
            _run_case(build(dataclasses.replace(target, chunks=chunks)), seeds)
    for name, head in (("tiny-ip-gop3-v5.tngv", 7), ("tiny-ip-gop3.tngv", 2)):
        current = parse(seeds.seeds[name])
        assert current is not None
        frames = [i for i, (t, _) in enumerate(current.chunks) if current.starts_frame(t)]
        streams = [current.chunks[i][1][head:] for i in frames]
        assert len(frames) == 5 and all(streams)
        for slot in frames:
            for stream in streams:
                chunks = list(current.chunks)
                chunks[slot] = (chunks[slot][0], chunks[slot][1][:head] + stream)
                _run_case(build(dataclasses.replace(current, chunks=chunks)), seeds)


def test_the_compact_unit_mutations_reach_each_of_the_readers_checks(seeds: SeedSet) -> None:
    """frame_fields on the version-6 seed (a unit's kind, quality, length field or stream end changed, the rest
    right): each of the reader's checks of a unit refuses some case, and some cases pass them all."""
    data = seeds.seeds["tiny-ip-gop3.tngv"]
    rng = random.Random(6)
    details = [_run_case(MUTATIONS["frame_fields"](data, rng, seeds), seeds)[1] for _ in range(300)]
    for check in ("unexpected chunk type", "not minimally encoded", "more than 4 bytes", "frame unit checksum",
                  "truncated", "invalid quality", "no quality", "trailing zero bytes",
                  "the first frame is not an I-frame", "outside the model's levels", "ok: 5 frames"):
        assert any(check in detail for detail in details), check


@pytest.mark.slow  # loads the shipped image model
def test_mutated_files_of_the_shipped_model_decode_or_fail_with_a_typed_error() -> None:
    """The same property on real files: a .tng of the shipped model and the version-1 .tngv sample (and a
    P-frame stream once an inter model is shipped); and the shipped tables' cheapest picture passes the
    plausibility check."""
    shipped = shipped_seeds()
    for name in shipped.names:
        assert _run_case(shipped.seeds[name], shipped, memory_kib=None)[0] == "ok", name
    from tngvideo.tng_image import load_image_codec

    loaded = load_image_codec()
    flat = encode_image(np.full((512, 768, 3), 118, dtype=np.uint8), 1.0, loaded)
    np.testing.assert_array_equal(decode_image(flat.data, loaded), flat.reconstruction)
    rng = random.Random(19)
    for case in range(150):
        name = shipped.names[case % len(shipped.names)]
        _, data = mutate(shipped.seeds[name], rng, shipped, rounds=rng.choice((1, 1, 2)))
        _run_case(data, shipped, memory_kib=None)


def test_the_writers_chunks_and_units_round_trip_through_the_fuzzers_parser(seeds: SeedSet) -> None:
    """The fuzzer reads what the library writes: every seed parses whole and builds back byte for byte (its INDEX
    and END rebuilt from its frames), a chunk is its type and payload, a compact unit (its length in 1 and 2 bytes)
    its kind, quality and stream, and a cut file keeps its last part as trailing bytes."""
    for name in seeds.names:
        parsed = parse(seeds.seeds[name])
        assert parsed is not None and not parsed.trailing and build(parsed) == seeds.seeds[name], name
    data = IMAGE_MAGIC + bytes(24)
    data += struct.pack("<I", zlib.crc32(data)) + write_chunk(ChunkType.HYPER, b"abcd") + write_chunk(ChunkType.LATENT, b"")
    parsed = parse(data)
    assert parsed is not None and parsed.chunks == [(ChunkType.HYPER, b"abcd"), (ChunkType.LATENT, b"")]
    header = VideoHeader(2, ((ModelRole.INTRA, ModelIdentity(5, bytes(8))),), 16, 16, Fraction(25), passes=(1, 0, 0))
    streams = [b"\1\2\3\4", bytes(range(1, 201))]  # a unit of 6 and of 202 bytes between length and CRC
    data = pack_video(header, [CodedFrame(FrameType.INTRA, 2.5, (1,), (stream,)) for stream in streams])
    parsed = parse(data)
    quality = struct.pack("<H", 2560)
    assert parsed is not None and parsed.compact and not parsed.trailing
    assert parsed.chunks[:2] == [(ChunkType.INTRA_FRAME, quality + stream) for stream in streams]
    assert [t for t, _ in parsed.chunks[2:]] == [ChunkType.INDEX, ChunkType.END] and build(parsed) == data
    start = 23 + 11 + 3 + 4 + 1 + 1 + 6 + 4  # the second unit, after the header and the first unit
    assert data[start : start + 3] == bytes([ChunkType.INTRA_FRAME, (202 & 0x7F) | 0x80, 202 >> 7])
    assert {start + 3, start + 3 + 202 + 4} <= set(section_boundaries(data))
    cut = parse(data[: start + 10])
    assert cut is not None and len(cut.chunks) == 1 and cut.trailing == data[start : start + 10]
