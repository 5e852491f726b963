"""Untrusted bitstreams: every mutated .tng/.tngv file decodes or fails with a typed error, in bounded
time and memory; header claims are checked against the file before anything is allocated.

The mutation engine is ``tests/bitstream_fuzz.py`` (shared with ``scripts/fuzz_bitstreams.py``, the
long campaign); here hypothesis drives it for a few hundred cases.
"""

from __future__ import annotations

import itertools
import random
import signal
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from bitstream_fuzz import (
    MUTATIONS,
    Parsed,
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
    for name in seeds.names:
        assert _run_case(seeds.seeds[name], seeds)[0] == "ok", name
    assert any(b"\x02" == frame[:1] for frame in _frame_heads(seeds.seeds["tiny-ip-gop3.tngv"])), "no P-frame seed"


def _frame_heads(data: bytes) -> list[bytes]:
    parsed = parse(data)
    assert parsed is not None
    return [payload for chunk_type, payload in parsed.chunks if chunk_type == ChunkType.FRAME]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    seed_index=st.integers(0, 3),
    kind=st.sampled_from(sorted(MUTATIONS)),
    rounds=st.integers(1, 3),
    salt=st.integers(0, 2**32 - 1),
)
def test_every_mutated_file_decodes_or_fails_with_a_typed_error(
    seeds: SeedSet, seed_index: int, kind: str, rounds: int, salt: int
) -> None:
    """Bit flips, truncation, inserted and deleted bytes, random headers, damaged payloads with their CRCs
    made right, chunks shuffled, sections swapped between files (see bitstream_fuzz.MUTATIONS)."""
    rng = random.Random(salt)
    name = seeds.names[seed_index % len(seeds.names)]
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


@pytest.mark.parametrize(("width", "height"), [(4096, 4096), (1920, 1080)])
def test_a_streams_size_claim_is_checked_against_each_frames_one_stream(
    seeds: SeedSet, monkeypatch: pytest.MonkeyPatch, width: int, height: int
) -> None:
    """The same for .tngv (format 5): a frame's one stream must hold every symbol of its tensors together."""
    data = bytearray(seeds.seeds["tiny-ip-gop3.tngv"])
    assert data[4] == 5
    size = 23 + 11 * data[22]
    data[6:14] = struct.pack("<II", width, height)
    data[size : size + 4] = struct.pack("<I", zlib.crc32(bytes(data[:size])))
    monkeypatch.setattr(StreamReader, "read", _never_called)
    with pytest.raises(BitstreamError, match="frame 0: .* bytes cannot hold the symbols") as caught:
        open_tngv(bytes(data), seeds.decoders.video)
    assert "\n" not in str(caught.value)


def test_every_chunk_crc_is_checked_before_entropy_decoding(seeds: SeedSet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StreamReader, "read", _never_called)
    for name in ("tiny-64x48.tng", "tiny-ip-gop3.tngv"):
        data = seeds.seeds[name]
        points = section_boundaries(data)
        for start, end in itertools.pairwise([0, *points]):  # every section's bytes, the header's too
            flipped = bytearray(data)
            flipped[(start + end) // 2] ^= 0x01
            with pytest.raises(TngError, match="checksum|truncated|unexpected|malformed|type|magic"):
                if name.endswith(".tng"):
                    decode_image(bytes(flipped), seeds.decoders.images[7])
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
    """Every HYPER/LATENT chunk of every seed placed into every slot of the version-4 P-frame stream, and every
    version-5 frame's stream after every FRAME head of the version-5 one (CRCs right)."""
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
            _run_case(build(Parsed(target.magic, target.header, chunks, b"")), seeds)
    current = parse(seeds.seeds["tiny-ip-gop3.tngv"])
    assert current is not None and current.header[4] == 5
    frames = [i for i, (t, _) in enumerate(current.chunks) if t == ChunkType.FRAME]
    streams = [current.chunks[i][1][7:] for i in frames]
    assert len(frames) == 5 and all(streams)
    for slot in frames:
        for stream in streams:
            chunks = list(current.chunks)
            chunks[slot] = (ChunkType.FRAME, chunks[slot][1][:7] + stream)
            _run_case(build(Parsed(current.magic, current.header, chunks, b"")), seeds)


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


def test_write_chunk_round_trips_through_the_fuzzers_parser() -> None:
    data = IMAGE_MAGIC + bytes(24)
    data += struct.pack("<I", zlib.crc32(data)) + write_chunk(ChunkType.HYPER, b"abcd") + write_chunk(ChunkType.LATENT, b"")
    parsed = parse(data)
    assert parsed is not None and parsed.chunks == [(ChunkType.HYPER, b"abcd"), (ChunkType.LATENT, b"")]
