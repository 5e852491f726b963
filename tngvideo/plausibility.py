"""Can a coded picture's sections hold what its header claims? Checked before anything is decoded.

The header's picture size fixes how many symbols each section codes: ``C_z x Hp/64 x Wp/64``
hyper-latents and ``C_y x Hp/16 x Wp/16`` latents (split over the coding passes). ANS can code a
near-certain symbol in a small fraction of a bit, but never in less than ``-log2 p_max`` bits,
where ``p_max`` is the largest probability of its pmf table (every pmf entry is at least 1 of
2^16, so ``p_max < 1``). Decoding a symbol shrinks the coder's state by at least that much
(within a factor 256/257, from the 32-bit renormalisation), and a section of ``B`` bytes starts
with at most ``8B + 32`` bits of state. So a section holds at most
``(8B + SLACK_BITS) / (SAFETY * least bits per symbol)`` symbols; a file claiming more is refused
with a one-line :class:`~tngvideo.errors.BitstreamError` before any tensor or symbol array is
allocated. ``SAFETY`` = 0.5 covers constriction's re-quantisation of the 16-bit pmfs to 24 bits
(which moves ``p_max`` by far less). The check never refuses a file an encoder wrote: those
spend at least the least cost on every symbol (``tests/test_fuzz.py`` measures it).

Also checked here, because the bound needs the model: the quality is within the model's ladder.
"""

from __future__ import annotations

import numpy as np

from tngvideo.bitstream import CodedFrame, FrameType, ImageHeader, VideoHeader
from tngvideo.codecs.image_codec import ImageCodec
from tngvideo.codecs.image_model import ImageModelConfig
from tngvideo.codecs.inter_codec import InterCodec
from tngvideo.codecs.latent_codec import HYPER_STRIDE, LatentCodec, LatentPayload, latent_grid
from tngvideo.entropy.coder import PmfTable
from tngvideo.entropy.pmf import PMF_PRECISION_BITS
from tngvideo.errors import BitstreamError

SAFETY = 0.5
SLACK_BITS = 64


def least_bits_per_symbol(table: PmfTable) -> np.ndarray:
    """For each group (row) of ``table``: the fewest bits any of its symbols can cost, ``-log2 p_max``."""
    largest = table.pmfs.max(axis=1).astype(np.float64) / float(1 << PMF_PRECISION_BITS)
    return -np.log2(np.minimum(largest, 1.0 - 2.0**-PMF_PRECISION_BITS))


def section_capacity(num_bytes: int, least_bits: float) -> float:
    """The most symbols a section of ``num_bytes`` bytes can hold when each costs at least ``least_bits``."""
    return (8.0 * num_bytes + SLACK_BITS) / (SAFETY * least_bits)


def check_latent_payload(latent: LatentCodec, payload: LatentPayload, latent_height: int, latent_width: int,
                         what: str) -> None:
    """BitstreamError unless each of ``payload``'s sections can hold the symbols of latents of this size."""
    if len(payload.latents) != latent.num_passes:
        raise BitstreamError(f"{what}: {len(payload.latents)} latent sections, the model codes {latent.num_passes}")
    tables = latent.tables
    plane = (latent_height // HYPER_STRIDE) * (latent_width // HYPER_STRIDE)
    hyper_bits = least_bits_per_symbol(tables.hyper)
    if len(hyper_bits) != latent.hyper_channels:
        raise BitstreamError(f"{what}: the model's hyper tables do not match its channels")  # a broken weight file
    needed = SAFETY * plane * float(hyper_bits.sum())
    if needed > 8.0 * len(payload.hyper) + SLACK_BITS:
        raise BitstreamError(
            f"{what}: HYPER section of {len(payload.hyper)} bytes cannot hold the "
            f"{plane * latent.hyper_channels} hyper-latents the picture size implies: corrupt or forged header"
        )
    per_pass = latent.latent_channels * latent_height * latent_width / latent.num_passes
    least = float(least_bits_per_symbol(tables.latent).min())
    for index, section in enumerate(payload.latents):
        if per_pass > section_capacity(len(section), least):
            raise BitstreamError(
                f"{what}: LATENT section {index + 1} of {len(section)} bytes cannot hold the {int(per_pass)} latents "
                "the picture size implies: corrupt or forged header"
            )


def _check_quality(quality: float, levels: int, what: str) -> None:
    if not 1.0 <= quality <= levels:
        raise BitstreamError(f"{what}: quality {quality:g} outside the model's levels 1..{levels}")


def check_image(header: ImageHeader, payload: LatentPayload, codec: ImageCodec, what: str = "picture") -> None:
    """A .tng picture (or an I-frame) is plausible for ``codec``: its quality and section sizes."""
    _check_quality(header.quality, codec.num_levels, what)
    check_latent_payload(codec.model.latent, payload, *latent_grid(header.height, header.width, ImageModelConfig.STRIDE), what)


def check_video(header: VideoHeader, frames: list[CodedFrame], intra: ImageCodec, inter: InterCodec | None) -> None:
    """Every frame of a parsed .tngv stream is plausible for its models (see :func:`check_image`)."""
    grid = latent_grid(header.height, header.width, ImageModelConfig.STRIDE)
    for index, frame in enumerate(frames):
        what = f"frame {index}"
        if frame.frame_type == FrameType.INTRA:
            check_image(ImageHeader(header.coder_id, header.intra_model, header.width, header.height, frame.quality),
                        frame.payload, intra, what)
            continue
        if inter is None or frame.motion is None:
            raise BitstreamError(f"{what}: a P-frame in a stream without an inter model")
        _check_quality(frame.quality, inter.num_levels, what)
        check_latent_payload(inter.model.motion.latent, frame.motion, *grid, f"{what} (motion)")
        check_latent_payload(inter.model.frame_latent, frame.payload, *grid, what)
