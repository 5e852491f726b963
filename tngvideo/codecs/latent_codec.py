"""The one latent codec of tngvideo: level gains + mean-scale hyperprior + optional checkerboard context,
with a training forward and an exact, integer-parameterised encode/decode.

The image codec codes its picture latents with one; the P-frame codec its motion latents and its
residual latents with one each. Data flow (Minnen et al. 2018, gains of Cui et al. 2021)::

    features ──·gain──► y ──h_a──► z ──round──► ẑ ──[HYPER section]
                        │                       │
                        │          h_s (fixed point, exact) [+ checkerboard over decoded anchors]
                        │                       │
                        └──round(y − μ)──► symbols ──[LATENT section per pass]──► ŷ = symbols + μ
    decoded features = ŷ · inverse_gain

Training (``forward``): mixed quantization (straight-through rounding for ŷ and ẑ, noisy likelihoods in
training mode, exact ones in eval mode). Coding (``write`` / ``read``): every parameter that
reaches the entropy coder comes from integers already coded (hyper-latent symbols, earlier passes'
symbols) through fixed-point networks, so any decoder on any CPU derives the same ones. They are computed
``ENTROPY_BAND_ROWS`` latent rows at a time: the networks being exact, the bands change no bit, and the
memory of a large picture's entropy model follows a band, not the whole grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.codecs.tiling import LATENT_PIXELS
from tngvideo.entropy.coder import SymbolReader, SymbolWriter
from tngvideo.entropy.context import (
    CheckerboardContext,
    FixedPointCheckerboard,
    anchor_mask,
    parameters_with_context,
)
from tngvideo.entropy.factorized import FactorizedPrior
from tngvideo.entropy.fixed_point import FixedPointNetwork, to_fixed, to_real
from tngvideo.entropy.gaussian import gaussian_likelihood
from tngvideo.entropy.quantization import add_uniform_noise, round_straight_through
from tngvideo.entropy.tables import HyperpriorTables
from tngvideo.errors import InputError
from tngvideo.layers import LatentSizedLayer, LevelGains, hyper_analysis, hyper_synthesis

SpatialContext = Literal["none", "checkerboard"]

# Submodules that form the entropy model (not the gains): the rate's parameters.
ENTROPY_MODULES = ("h_a", "h_s", "z_prior", "checkerboard")
HYPER_STRIDE = 4  # hyper-latents are at 1/4 of the latents' resolution
# Latent rows whose entropy parameters the fixed-point networks compute at once: their float64 temporaries
# follow the band, not the picture (~0.4 GB for 192 channels of a 6000-pixel-wide picture).
ENTROPY_BAND_ROWS = 16
# Hyper parameters (float64) of grids up to this many values are computed once for both checkerboard passes
# (32 MB; a 1080p frame's 192-channel grid has 3.1M).
KEPT_HYPER_VALUES = 4_000_000


def quality_level(quality: float, num_levels: int) -> torch.Tensor:
    """The (fractional) gain level of a user quality in [1, num_levels]; a clear error outside it."""
    if not 1.0 <= quality <= num_levels:
        raise InputError(f"quality must be between 1 and {num_levels}, got {quality}")
    return torch.tensor([quality - 1.0], dtype=torch.float32)


def latent_grid(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Latent size of a picture padded to a ``multiple`` of pixels (64, the analysis and hyper-analysis together:
    .tng up to format version 4, .tngv up to 6; 16, one latent: .tng from 5, .tngv from 7), one latent per
    ``LATENT_PIXELS``²: what encoder, decoder and the plausibility checks all derive from a header's dimensions."""
    return -(-height // multiple) * multiple // LATENT_PIXELS, -(-width // multiple) * multiple // LATENT_PIXELS


def _padded_for_hyper(y: torch.Tensor) -> torch.Tensor:
    """Latents (B, M, H, W) padded to multiples of ``HYPER_STRIDE`` by replicating their last row and column, for the
    hyper-analysis (any latent grid is coded: the hyper-latents cover the padded one, the latents its H × W)."""
    height, width = y.shape[2:]
    padding = (0, (-width) % HYPER_STRIDE, 0, (-height) % HYPER_STRIDE)
    return F.pad(y, padding, mode="replicate") if any(padding) else y


@dataclass(frozen=True)
class LatentPayload:
    """The entropy-coded part of one latent tensor: hyper-latents, then one latent section per coding pass."""

    hyper: bytes
    latents: tuple[bytes, ...]

    @property
    def num_bytes(self) -> int:
        return len(self.hyper) + sum(len(section) for section in self.latents)

    @classmethod
    def from_sections(cls, sections: list[bytes]) -> LatentPayload:
        """From :meth:`SymbolWriter.sections` of one tensor (hyper section first)."""
        return cls(sections[0], tuple(sections[1:]))


@dataclass(frozen=True)
class LatentForward:
    """Training-time output: decoded features (ŷ · inverse gain) and the likelihoods of ŷ and ẑ."""

    decoded: torch.Tensor
    y_likelihoods: torch.Tensor
    z_likelihoods: torch.Tensor

    def bits(self) -> torch.Tensor:
        """Estimated bits of each sample (shape (B,))."""
        return -torch.log2(self.y_likelihoods).sum((1, 2, 3)) - torch.log2(self.z_likelihoods).sum((1, 2, 3))


@dataclass(frozen=True)
class CodedLatents:
    """What encoder and decoder both know after coding: every latent's symbol and exact mean."""

    symbols: np.ndarray  # int32, flattened (1, M, H, W)
    means: torch.Tensor  # float64 (1, M, H, W), exact (from fixed point)

    def values(self) -> torch.Tensor:
        """ŷ = symbols + means, float32."""
        return (torch.from_numpy(self.symbols).double().reshape(self.means.shape) + self.means).float()


# One coding pass: (positions, their scale indexes, their means) -> the symbols at those positions.
CodePass = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class LatentCodec(nn.Module):
    """Variable-rate coding of a (B, M, H, W) feature tensor (see module docstring)."""

    def __init__(self, latent_channels: int, hyper_channels: int, level_lambdas: tuple[float, ...],
                 context: SpatialContext = "none"):
        super().__init__()
        if context not in ("none", "checkerboard"):
            raise ValueError(f"unknown spatial context {context!r}")
        m, h = latent_channels, hyper_channels
        self.latent_channels, self.hyper_channels = m, h
        self.gains = LevelGains(m, level_lambdas)
        self.h_a = hyper_analysis(m, h)
        self.h_s = hyper_synthesis(h, 2 * m)
        self.z_prior = FactorizedPrior(h)
        self.checkerboard = CheckerboardContext(m) if context == "checkerboard" else None
        self._exact: _ExactCoding | None = None

    # --- training -----------------------------------------------------------------------------

    def gained(self, features: torch.Tensor, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, inverse_gain): features scaled by the level's gain, and the gain that undoes it after decoding."""
        gain, inverse_gain = self.gains(level)
        return features * gain, inverse_gain

    def entropy_parameters(self, z_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales, means) of every latent's Gaussian: from the hyper-latents (of the grid padded for them), and with
        a checkerboard context also from the (straight-through rounded) anchor latents of ``y``."""
        parameters = self.h_s(z_hat)[:, :, : y.shape[2], : y.shape[3]]
        if self.checkerboard is not None:
            _, anchor_means = parameters.chunk(2, dim=1)
            y_hat = round_straight_through(y - anchor_means) + anchor_means
            parameters = parameters_with_context(self.checkerboard, parameters, y_hat, anchor_mask(*y.shape[2:]))
        scales, means = parameters.chunk(2, dim=1)
        return scales, means

    def quantize(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ŷ, likelihoods of y, likelihoods of z) of already gained latents (mixed quantization).

        Always in float32, also when training autocasts the transforms to bfloat16: rounding and
        likelihoods need float32's precision (bfloat16 keeps 8 bits: a latent of 100 would round in steps of 0.5)."""
        with torch.autocast("cpu", enabled=False):
            return self._quantize(y.float())

    def _quantize(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.h_a(_padded_for_hyper(y))
        z_hat = round_straight_through(z)
        y_hat, scales, means = self._rounded_given(z_hat, y)
        y_likelihoods = gaussian_likelihood(add_uniform_noise(y) if self.training else y_hat, means, scales)
        z_likelihoods = self.z_prior.likelihood(add_uniform_noise(z) if self.training else z_hat)
        return y_hat, y_likelihoods, z_likelihoods

    def rounded(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ŷ, scales, means) of already gained latents, rounded as the training forward rounds: what an
        encoder-side search holds fixed while it moves some of them (``codecs.motion_search``)."""
        return self._rounded_given(round_straight_through(self.h_a(_padded_for_hyper(y))), y)

    def _rounded_given(self, z_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        scales, means = self.entropy_parameters(z_hat, y)
        return round_straight_through(y - means) + means, scales, means

    def forward(self, features: torch.Tensor, level: torch.Tensor) -> LatentForward:
        """Training pass over ``features`` at per-sample (fractional) ``level``s."""
        return self.from_gained(*self.gained(features, level))

    def from_gained(self, y: torch.Tensor, inverse_gain: torch.Tensor) -> LatentForward:
        """Everything after the gain: training, and the encoder refining given latents."""
        y_hat, y_likelihoods, z_likelihoods = self.quantize(y)
        return LatentForward(y_hat * inverse_gain, y_likelihoods, z_likelihoods)

    # --- what the model is made of ------------------------------------------------------------

    def latent_sized_layers(self) -> Iterator[LatentSizedLayer]:
        """The entropy model's layers whose width follows M: the hyper-analysis reads the new channels
        with zero weights, the hyper-synthesis gives them mean 0 at the smallest scale."""
        yield LatentSizedLayer(self.h_a[0], in_blocks=1)
        yield LatentSizedLayer(self.h_s[-1], out_blocks=2)  # [scales | means]
        if self.checkerboard is not None:
            yield from self.checkerboard.latent_sized_layers()

    def entropy_parameters_list(self) -> list[nn.Parameter]:
        """Parameters of the entropy model (hyperprior and context): they set the rate, and the decoded
        features only through the means that ŷ = round(y − μ) + μ is rounded around."""
        return [p for name, p in self.named_parameters() if name.split(".")[0] in ENTROPY_MODULES]

    def entropy_conv_weight_names(self) -> list[str]:
        """Names (relative to this module) of the entropy model's convolution weights: shipped as int8,
        which cost 0.03% BD-rate and saved 5.4 MB of tng-image-v8's 19.4 MB (measured on its Kodak probe)."""
        return [name + ".weight" for name, module in self.named_modules()
                if name.split(".")[0] in ENTROPY_MODULES and isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))]

    # --- exact coding -------------------------------------------------------------------------

    def prepare_coding(self, tables: HyperpriorTables | None = None) -> HyperpriorTables:
        """Bake the fixed-point twins of the entropy networks from the current weights, with ``tables``
        (stored with shipped weights) or tables built now (random-init and freshly trained models).
        Must be called again if the weights change."""
        tables = tables if tables is not None else HyperpriorTables.build(self.z_prior)
        checkerboard = FixedPointCheckerboard(self.checkerboard) if self.checkerboard is not None else None
        self._exact = _ExactCoding(FixedPointNetwork(self.h_s), checkerboard, tables, self.latent_channels)
        return tables

    @property
    def tables(self) -> HyperpriorTables:
        return self._coding().tables

    def _coding(self) -> _ExactCoding:
        if self._exact is None:
            raise RuntimeError("LatentCodec.prepare_coding() must run before coding")
        return self._exact

    @property
    def num_passes(self) -> int:
        """Latent sections per tensor: 2 with a checkerboard context, else 1."""
        return 1 if self.checkerboard is None else 2

    def hyper_shape(self, latent_height: int, latent_width: int) -> tuple[int, int, int, int]:
        """Shape of z for latents of this size (their grid padded to multiples of the hyper stride)."""
        return (1, self.hyper_channels, -(-latent_height // HYPER_STRIDE), -(-latent_width // HYPER_STRIDE))

    def write(self, y: torch.Tensor, writer: SymbolWriter) -> CodedLatents:
        """Add the symbols of gained latents ``y`` (1, M, H, W) to ``writer`` in decoding order (hyper-latents, then
        each pass); returns what the decoder will know."""
        exact = self._coding()
        padded = _padded_for_hyper(y)
        z = self.h_a(padded)
        z_symbols = torch.round(z).numpy().astype(np.int64).ravel()
        writer.add(z_symbols, _channel_groups(tuple(z.shape)), exact.tables.hyper)
        y_flat = padded.numpy().ravel()

        def write_pass(positions: np.ndarray, scale_index: np.ndarray, means: np.ndarray) -> np.ndarray:
            symbols = np.round(y_flat[positions].astype(np.float64) - means).astype(np.int64)
            writer.add(symbols, scale_index, exact.tables.latent)
            return symbols

        return exact.code_latents(z_symbols, tuple(z.shape), write_pass, (y.shape[2], y.shape[3]))

    def read(self, reader: SymbolReader, latent_height: int, latent_width: int) -> CodedLatents:
        """The symbols and means :meth:`write` coded, read from ``reader``."""
        exact = self._coding()
        z_shape = self.hyper_shape(latent_height, latent_width)

        def read_pass(positions: np.ndarray, scale_index: np.ndarray, means: np.ndarray) -> np.ndarray:
            return reader.read(scale_index, exact.tables.latent)

        z_symbols = reader.read(_channel_groups(z_shape), exact.tables.hyper)
        return exact.code_latents(z_symbols, z_shape, read_pass, (latent_height, latent_width))

    def dequantize(self, coded: CodedLatents, level: torch.Tensor) -> torch.Tensor:
        """Decoded features ŷ · inverse_gain of coded latents (float: only the synthesis uses them)."""
        _, inverse_gain = self.gains(level)
        return coded.values() * inverse_gain


def _channel_groups(shape: tuple[int, ...]) -> np.ndarray:
    channels, plane = shape[1], int(np.prod(shape[2:]))
    return np.repeat(np.arange(channels), plane)


def _bands(height: int) -> Iterator[range]:
    """The latent rows of a grid of ``height`` rows, ENTROPY_BAND_ROWS at a time."""
    for start in range(0, height, ENTROPY_BAND_ROWS):
        yield range(start, min(start + ENTROPY_BAND_ROWS, height))


@dataclass(frozen=True)
class _ExactCoding:
    """The fixed-point entropy networks and integer tables of one :class:`LatentCodec`."""

    hyper_parameters: FixedPointNetwork
    checkerboard: FixedPointCheckerboard | None
    tables: HyperpriorTables
    latent_channels: int

    def code_latents(self, z_symbols: np.ndarray, z_shape: tuple[int, ...], code_pass: CodePass,
                     grid: tuple[int, int]) -> CodedLatents:
        """Run the coding passes over the latents of ``grid`` (rows, columns; the hyper-latents cover it padded to
        multiples of HYPER_STRIDE), encoder and decoder alike, differing only in ``code_pass``. Positions of the
        padded grid beyond ``grid`` are not coded: their symbols stay 0, so a context reads their means there, the
        hyperprior's continuation of the grid (zeros instead cost 6% of a 368×480 I-frame at quality 2).

        Each pass computes its positions' scale indexes and means band by band (:func:`_bands`) into
        whole-grid arrays, then codes all its positions at once: bit-identical to computing the parameters
        of the whole grid at once (the networks are exact), so the bitstream does not depend on the bands."""
        z_fixed = to_fixed(torch.from_numpy(z_symbols.reshape(z_shape)).double())
        shape = (1, self.latent_channels, z_shape[2] * HYPER_STRIDE, z_shape[3] * HYPER_STRIDE)
        symbols = np.zeros(shape, dtype=np.int32)
        scale_indexes = np.zeros(shape, dtype=self.tables.scale_index_dtype)
        means = torch.zeros(shape, dtype=torch.float64)
        coded = torch.zeros(1, 1, *shape[2:], dtype=torch.bool)
        coded[:, :, : grid[0], : grid[1]] = True

        def run_pass(positions: torch.Tensor, band_parameters: Callable[[range], torch.Tensor]) -> None:
            """The pass's parameters band by band, then the symbols of its positions within the grid in one
            ``code_pass`` (the bitstream's order)."""
            for rows in _bands(shape[2]):
                band = slice(rows.start, rows.stop)
                self._store(band_parameters(rows), positions[:, :, band], scale_indexes[:, :, band], means[:, :, band])
            flat = (positions & coded).expand(shape).numpy().ravel()
            symbols.reshape(-1)[flat] = code_pass(flat, scale_indexes.reshape(-1)[flat], means.numpy().reshape(-1)[flat])

        # The second pass reads the first pass's hyper parameters again: kept when the grid is small (every
        # video frame up to 1080p), recomputed band by band when it is not (memory follows a band).
        kept: dict[int, torch.Tensor] = {}
        keep = self.checkerboard is not None and 2 * shape[1] * shape[2] * shape[3] <= KEPT_HYPER_VALUES

        def hyper(rows: range) -> torch.Tensor:
            if rows.start in kept:
                return kept.pop(rows.start)
            parameters = self._hyper_rows(z_fixed, rows)
            if keep:
                kept[rows.start] = parameters
            return parameters

        if self.checkerboard is None:
            run_pass(coded, hyper)
        else:
            anchors = anchor_mask(*shape[2:])
            run_pass(anchors, hyper)
            run_pass(~anchors, lambda rows: self._corrected_rows(hyper(rows), rows, symbols, means, anchors))
        return CodedLatents(np.ascontiguousarray(symbols[:, :, : grid[0], : grid[1]]).ravel(),
                            means[:, :, : grid[0], : grid[1]].contiguous())

    def _hyper_rows(self, z_fixed: torch.Tensor, rows: range) -> torch.Tensor:
        """The hyperprior's fixed-point (scale, mean) parameters of latent ``rows``, from the z rows they read."""
        window = self.hyper_parameters.input_window(rows, z_fixed.shape[2])
        return self.hyper_parameters.run_rows(z_fixed[:, :, window.start : window.stop], rows, z_fixed.shape[2])

    def _corrected_rows(self, parameters: torch.Tensor, rows: range, symbols: np.ndarray, means: torch.Tensor,
                        anchors: torch.Tensor) -> torch.Tensor:
        """The hyperprior ``parameters`` of latent ``rows`` corrected by the checkerboard context from the
        decoded anchors (symbols and means of the first pass) around them."""
        assert self.checkerboard is not None
        window = self.checkerboard.anchor_window(rows, anchors.shape[2])
        band = slice(window.start, window.stop)
        decoded = to_fixed(torch.from_numpy(symbols[:, :, band]).double()) + to_fixed(means[:, :, band])
        return self.checkerboard(parameters, decoded * anchors[:, :, band], rows, anchors.shape[2])

    def _store(self, parameters: torch.Tensor, positions: torch.Tensor, scale_indexes: np.ndarray,
               means: torch.Tensor) -> None:
        """Keep a band's scale indexes and exact means where this pass codes (``positions``) only: the
        second pass must leave the anchors' means, which it reads again around the next band."""
        scales_fixed, means_fixed = parameters.chunk(2, dim=1)
        mask = positions.expand_as(means_fixed)
        scale_indexes[mask.numpy()] = self.tables.scale_indexes(scales_fixed[mask])
        means[mask] = to_real(means_fixed[mask])
