"""The TNG image codec: RGB picture <-> entropy-coded latents, with a bit-exact decoder.

Encoding::

    rgb ─pad to 64─► g_a·gain ─► y ─► h_a ─► z ─round─► ẑ ──► [hyper section]
                                              │
                         integer h_s (fixed point, exact) ─► scale index k, mean μ (exact)
                                              │
                     y ─► round(y−μ) ─► symbols ──► [latent section(s)]
    recon = crop(g_s((symbols+μ)·inverse_gain))

Latents are coded in one pass, or with a checkerboard context in two (anchors, then the rest with
parameters corrected from the decoded anchors); each pass is one latent section. Encoder and
decoder run the same pass loop (:meth:`ImageCodec._code_latents`), differing only in whether a
pass's symbols are written or read. Decoding repeats the right-hand column from the sections alone. Everything that feeds the entropy
coder is integer (see :mod:`tngvideo.entropy.fixed_point`); the synthesis runs with oneDNN off,
whose float32 convolutions are the same for every thread count, so the decoder's pixels equal
the encoder's reconstruction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch.nn import functional as F

from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.entropy.coder import CODER_ID, decode_symbols, encode_symbols
from tngvideo.entropy.context import FixedPointCheckerboard, anchor_mask, parameters_with_context
from tngvideo.entropy.fixed_point import ACTIVATION_BITS, FixedPointNetwork, to_real
from tngvideo.entropy.tables import HyperpriorTables
from tngvideo.errors import BitstreamError, InputError


@dataclass(frozen=True)
class LatentPayload:
    """The entropy-coded part of one picture: hyper-latents, then one latent section per coding pass."""

    hyper: bytes
    latents: tuple[bytes, ...]

    @property
    def num_bytes(self) -> int:
        return len(self.hyper) + sum(len(section) for section in self.latents)


# One coding pass: (positions, their scale indexes, their means) -> the symbols at those positions.
CodePass = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AnalysedPicture:
    """A picture after the analysis transform (before the quality's gain): g_a(x) and the original size."""

    features: torch.Tensor
    height: int
    width: int


@dataclass(frozen=True)
class EncodedPicture:
    """What the encoder produced for one picture, and the reconstruction the decoder will produce.

    The reconstruction is synthesised on first use: a still-picture encode never needs it, and the
    synthesis is as costly as the rest of the encoder."""

    payload: LatentPayload
    synthesize: Callable[[], np.ndarray] = field(repr=False, compare=False)

    @cached_property
    def reconstruction(self) -> np.ndarray:
        """HxWx3 uint8, identical to the decoder's output."""
        return self.synthesize()


@contextlib.contextmanager
def deterministic_inference() -> Iterator[None]:
    """No autograd, and oneDNN off: plain im2col+GEMM convolutions give identical floats for any thread count."""
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]  # a module-level flag, not a ContextProp
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mkldnn.enabled = previous  # type: ignore[assignment]


class ImageCodec:
    """A trained :class:`ImageModel` plus the integer tables that make it a codec."""

    def __init__(self, model: ImageModel, tables: HyperpriorTables):
        self.model = model.eval()
        self.tables = tables
        self.stride = ImageModelConfig.STRIDE
        self._hyper_parameters = FixedPointNetwork(model.h_s)
        self._checkerboard = FixedPointCheckerboard(model.checkerboard) if model.checkerboard is not None else None
        self.num_levels = model.gains.num_levels

    @classmethod
    def from_state(cls, config: ImageModelConfig, tensors: dict[str, torch.Tensor]) -> ImageCodec:
        """Build from stored tensors (network weights + ``coding.*`` tables)."""
        model = ImageModel(config)
        weights = {k: v for k, v in tensors.items() if not k.startswith("coding.")}
        model.load_state_dict(weights)
        return cls(model, HyperpriorTables.from_tensors(tensors))

    @classmethod
    def from_model(cls, model: ImageModel) -> ImageCodec:
        """Bake coding tables from a (trained or random) model."""
        return cls(model, HyperpriorTables.build(model.z_prior))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything a weight file must hold for this codec."""
        return {**{k: v.detach().contiguous() for k, v in self.model.state_dict().items()}, **self.tables.to_tensors()}

    # --- shapes -------------------------------------------------------------------------------

    def hyper_latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of z for a picture of this size (after padding to the stride); y follows from it via h_s."""
        padded_h, padded_w = -(-height // self.stride), -(-width // self.stride)
        return (1, self.model.config.hyper_channels, padded_h, padded_w)

    def level(self, quality: float) -> torch.Tensor:
        """The network's (fractional) level for ``quality``; a clear error outside [1, num_levels]."""
        if not 1.0 <= quality <= self.num_levels:
            raise InputError(f"quality must be between 1 and {self.num_levels}, got {quality}")
        return torch.tensor([quality - 1.0], dtype=torch.float32)

    # --- coding -------------------------------------------------------------------------------

    def encode(self, rgb: np.ndarray, quality: float) -> EncodedPicture:
        """Code an HxWx3 uint8 picture at ``quality`` in [1, num_levels] (fractional allowed)."""
        return self.encode_analysed(self.analyse(rgb), quality)

    def analyse(self, rgb: np.ndarray) -> AnalysedPicture:
        """The quality-independent first step of encoding (the analysis transform, most of the cost)."""
        height, width = rgb.shape[:2]
        with deterministic_inference():
            x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
            return AnalysedPicture(self.model.g_a(self._pad(x)), height, width)

    def encode_analysed(self, picture: AnalysedPicture, quality: float) -> EncodedPicture:
        """Code an analysed picture at ``quality``: coding one picture at several qualities (rate
        control) analyses it once. Same bytes as :meth:`encode`."""
        level = self.level(quality)
        with deterministic_inference():
            payload, y_symbols, means = self._code(picture, level)

        def synthesize() -> np.ndarray:
            with deterministic_inference():
                return self._synthesize(y_symbols, means, level, picture.height, picture.width)

        return EncodedPicture(payload, synthesize)

    def payload_size(self, picture: AnalysedPicture, quality: float) -> int:
        """Bytes of the coded sections at ``quality``, without synthesising the reconstruction."""
        with deterministic_inference():
            return self._code(picture, self.level(quality))[0].num_bytes

    def _code(self, picture: AnalysedPicture, level: torch.Tensor) -> tuple[LatentPayload, np.ndarray, torch.Tensor]:
        gain, _ = self.model.gains(level)
        y = picture.features * gain
        z = self.model.h_a(y)
        z_symbols = torch.round(z).numpy().astype(np.int64).ravel()
        y_flat = y.double().numpy().ravel()
        sections: list[bytes] = []

        def write_pass(positions: np.ndarray, scale_index: np.ndarray, means: np.ndarray) -> np.ndarray:
            symbols = np.round(y_flat[positions] - means).astype(np.int64)
            sections.append(encode_symbols(symbols, scale_index, self.tables.latent))
            return symbols

        y_symbols, means = self._code_latents(z_symbols, z.shape, write_pass)
        hyper = encode_symbols(z_symbols, self._channel_groups(z.shape), self.tables.hyper)
        return LatentPayload(hyper=hyper, latents=tuple(sections)), y_symbols, means

    def decode(
        self, payload: LatentPayload, height: int, width: int, quality: float, coder_id: int = CODER_ID
    ) -> np.ndarray:
        """Reconstruct the HxWx3 uint8 picture; equals the encoder's ``reconstruction`` bit for bit.

        ``coder_id`` is the one the file was written with (older files clamped instead of escaping)."""
        level = self.level(quality)
        if len(payload.latents) != self.num_passes:
            raise BitstreamError(
                f"file has {len(payload.latents)} latent sections, this model codes {self.num_passes}"
            )
        z_shape = self.hyper_latent_shape(height, width)
        sections = iter(payload.latents)

        def read_pass(positions: np.ndarray, scale_index: np.ndarray, means: np.ndarray) -> np.ndarray:
            return decode_symbols(next(sections), scale_index, self.tables.latent, coder_id)

        with deterministic_inference():
            z_symbols = decode_symbols(payload.hyper, self._channel_groups(z_shape), self.tables.hyper, coder_id)
            y_symbols, means = self._code_latents(z_symbols, z_shape, read_pass)
            return self._synthesize(y_symbols, means, level, height, width)

    @property
    def num_passes(self) -> int:
        """Latent sections per picture: 2 with a checkerboard context, else 1."""
        return 1 if self._checkerboard is None else 2

    # --- shared steps -------------------------------------------------------------------------

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        pad_h, pad_w = (-height) % self.stride, (-width) % self.stride
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x

    @staticmethod
    def _channel_groups(shape: tuple[int, ...] | torch.Size) -> np.ndarray:
        channels, plane = shape[1], int(np.prod(shape[2:]))
        return np.repeat(np.arange(channels), plane)

    def _code_latents(self, z_symbols: np.ndarray, z_shape: tuple[int, ...] | torch.Size, code_pass: CodePass) -> tuple[np.ndarray, torch.Tensor]:
        """Run the coding passes; returns every latent's symbol and (exact, float64) mean.

        Parameters come only from integers already coded (hyper-latents, earlier passes' symbols)
        through fixed-point networks, so the encoder and any decoder derive identical ones.
        """
        z_hat = torch.from_numpy(z_symbols.reshape(tuple(z_shape))).double()
        parameters = self._hyper_parameters(z_hat)  # (1, 2M, H, W) fixed point
        latent_shape = (1, parameters.shape[1] // 2, *parameters.shape[2:])
        symbols = np.zeros(int(np.prod(latent_shape)), dtype=np.int64)

        def run_pass(positions: np.ndarray) -> None:
            scales_fixed, means_fixed = parameters.chunk(2, dim=1)
            scale_index = self.tables.scale_indexes(scales_fixed).ravel()
            means = to_real(means_fixed).numpy().ravel()
            symbols[positions] = code_pass(positions, scale_index[positions], means[positions])

        if self._checkerboard is None:
            run_pass(np.ones(symbols.size, dtype=bool))
        else:
            anchors = anchor_mask(*latent_shape[2:])
            anchor_positions = anchors.expand(latent_shape).numpy().ravel()
            run_pass(anchor_positions)
            _, means_fixed = parameters.chunk(2, dim=1)
            y_hat_fixed = torch.from_numpy(symbols.reshape(means_fixed.shape)).double() * 2.0**ACTIVATION_BITS + means_fixed
            parameters = parameters_with_context(self._checkerboard, parameters, y_hat_fixed, anchors)
            run_pass(~anchor_positions)
        return symbols, to_real(parameters.chunk(2, dim=1)[1])

    def _synthesize(self, y_symbols: np.ndarray, means: torch.Tensor, level: torch.Tensor, height: int, width: int) -> np.ndarray:
        y_hat = (torch.from_numpy(y_symbols).double().reshape(means.shape) + means).float()
        _, inverse_gain = self.model.gains(level)
        x_hat = self.model.g_s(y_hat * inverse_gain)[0, :, :height, :width]
        return x_hat.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()

