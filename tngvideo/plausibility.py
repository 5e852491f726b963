"""Can a coded picture's sections hold what its header claims? Checked before anything is decoded.

The header's picture size fixes how many symbols each section codes: ``C_z x Hp/64 x Wp/64``
hyper-latents and ``C_y x Hp/16 x Wp/16`` latents (split over the coding passes), where ``Hp x Wp`` is the picture
padded to 64 pixels (.tng up to format version 4, .tngv up to 6; from .tng 5 and .tngv 7, to 16 pixels, and the
hyper-latents cover the latent grid padded to multiples of 4). ANS can code a
near-certain symbol in a small fraction of a bit, but never in less than ``-log2 p_max`` bits,
where ``p_max`` is the largest probability of its pmf table (every pmf entry is at least 1 of
2^16, so ``p_max < 1``). Decoding a symbol shrinks the coder's state by at least that much
(within a factor 256/257, from the 32-bit renormalisation), and a section of ``B`` bytes starts
with at most ``8B + 32`` bits of state. So a section holds at most
``(8B + SLACK_BITS) / (SAFETY * least bits per symbol)`` symbols, and a .tngv frame's one stream (format
versions 5 to 7) symbols whose least costs add up to at most ``(8B + SLACK_BITS) / SAFETY``; a file claiming more is refused
with a one-line :class:`~tngvideo.errors.BitstreamError` before any tensor or symbol array is
allocated. ``SAFETY`` = 0.5 covers constriction's re-quantisation of the 16-bit pmfs to 24 bits
(which moves ``p_max`` by far less). The check never refuses a file an encoder wrote: those
spend at least the least cost on every symbol (``tests/test_fuzz.py`` measures it).

Also checked here, because the bound needs the model: the quality is within the model's ladder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tngvideo.bitstream import CodedFrame, FrameType, ImageHeader, VideoHeader
from tngvideo.codecs.image_codec import ImageCodec
from tngvideo.codecs.inter_codec import InterCodec
from tngvideo.codecs.latent_codec import LatentCodec, LatentPayload, latent_grid
from tngvideo.entropy.coder import PmfTable
from tngvideo.entropy.pmf import PMF_PRECISION_BITS
from tngvideo.errors import BitstreamError

SAFETY = 0.5
SLACK_BITS = 64


def least_bits_per_symbol(table: PmfTable) -> np.ndarray:
    """For each group (row) of ``table``: the fewest bits any of its symbols can cost, ``-log2 p_max``."""
    largest = table.pmfs.max(axis=1).astype(np.float64) / float(1 << PMF_PRECISION_BITS)
    return -np.log2(np.minimum(largest, 1.0 - 2.0**-PMF_PRECISION_BITS))


def capacity_bits(num_bytes: int) -> float:
    """The most least costs (bits) the symbols of a stream of ``num_bytes`` bytes can add up to."""
    return (8.0 * num_bytes + SLACK_BITS) / SAFETY


def section_capacity(num_bytes: int, least_bits: float) -> float:
    """The most symbols a section of ``num_bytes`` bytes can hold when each costs at least ``least_bits``."""
    return capacity_bits(num_bytes) / least_bits


def least_section_bits(latent: LatentCodec, latent_height: int, latent_width: int, what: str) -> list[float]:
    """The least cost (bits) of each section's symbols for latents of this size, hyper section first, then each
    pass: what a section's :func:`capacity_bits` (or a stream's, summed) must reach."""
    tables = latent.tables
    plane = math.prod(latent.hyper_shape(latent_height, latent_width)[2:])
    hyper_bits = least_bits_per_symbol(tables.hyper)
    if len(hyper_bits) != latent.hyper_channels:
        raise BitstreamError(f"{what}: the model's hyper tables do not match its channels")  # a broken weight file
    per_pass = latent.latent_channels * latent_height * latent_width / latent.num_passes
    least = float(least_bits_per_symbol(tables.latent).min())
    return [plane * float(hyper_bits.sum())] + [per_pass * least] * latent.num_passes


def _check_sections(sections: Sequence[bytes], needed_bits: Sequence[float], what: str) -> None:
    names = ["HYPER", *(f"LATENT {i}" for i in range(1, len(sections)))]
    for name, section, needed in zip(names, sections, needed_bits, strict=True):
        if needed > capacity_bits(len(section)):
            raise BitstreamError(f"{what}: {name} section of {len(section)} bytes cannot hold the symbols the "
                                 "picture size implies: corrupt or forged header")


def check_latent_payload(latent: LatentCodec, payload: LatentPayload, latent_height: int, latent_width: int,
                         what: str) -> None:
    """BitstreamError unless each of ``payload``'s sections can hold the symbols of latents of this size."""
    if len(payload.latents) != latent.num_passes:
        raise BitstreamError(f"{what}: {len(payload.latents)} latent sections, the model codes {latent.num_passes}")
    _check_sections([payload.hyper, *payload.latents], least_section_bits(latent, latent_height, latent_width, what),
                    what)


def check_frame_symbols(frame: CodedFrame, latents: Sequence[LatentCodec], latent_height: int, latent_width: int,
                        what: str) -> None:
    """BitstreamError unless ``frame`` codes as many passes as ``latents`` (its tensors, in decoding order) and its
    sections, or its one stream, can hold their symbols."""
    expected = tuple(latent.num_passes for latent in latents)
    if frame.passes != expected:
        raise BitstreamError(f"{what}: latent passes {frame.passes}, the model codes {expected}")
    needed = [bits for latent in latents for bits in least_section_bits(latent, latent_height, latent_width, what)]
    if frame.is_stream:
        if sum(needed) > capacity_bits(frame.num_bytes):
            raise BitstreamError(f"{what}: {frame.num_bytes} bytes cannot hold the symbols the picture size implies: "
                                 "corrupt or forged header")
        return
    for index, latent in enumerate(latents):
        start = sum(1 + count for count in expected[:index])
        _check_sections(frame.sections[start : start + 1 + latent.num_passes],
                        needed[start : start + 1 + latent.num_passes], what)


def _check_quality(quality: float, levels: int, what: str) -> None:
    if not 1.0 <= quality <= levels:
        raise BitstreamError(f"{what}: quality {quality:g} outside the model's levels 1..{levels}")


def check_image(header: ImageHeader, payload: LatentPayload, codec: ImageCodec, what: str = "picture") -> None:
    """A .tng picture (or an I-frame) is plausible for ``codec``: its quality and section sizes."""
    _check_quality(header.quality, codec.num_levels, what)
    check_latent_payload(codec.model.latent, payload, *latent_grid(header.height, header.width, header.padding_multiple),
                         what)


def check_video(header: VideoHeader, frames: list[CodedFrame], intra: ImageCodec, inter: InterCodec | None) -> None:
    """Every frame of a parsed .tngv stream is plausible for its models: its quality, and its sections or its one
    stream against the symbols of its latent tensors."""
    grid = latent_grid(header.height, header.width, header.padding_multiple)
    for index, frame in enumerate(frames):
        what = f"frame {index}"
        if frame.frame_type == FrameType.INTRA:
            _check_quality(frame.quality, intra.num_levels, what)
            check_frame_symbols(frame, [intra.model.latent], *grid, what)
            continue
        if inter is None:
            raise BitstreamError(f"{what}: a P-frame in a stream without an inter model")
        _check_quality(frame.quality, inter.num_levels, what)
        check_frame_symbols(frame, [inter.model.motion.latent, inter.model.frame_latent], *grid, what)
