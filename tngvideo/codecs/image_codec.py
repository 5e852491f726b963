"""The TNG image codec: RGB picture <-> entropy-coded latents, with a bit-exact decoder.

Encoding::

    rgb ─pad to 64─► g_a·gain ─► y ─► h_a ─► z ─round,clamp─► ẑ ──► [hyper section]
                                              │
                         integer h_s (fixed point, exact) ─► scale index k, mean μ (exact)
                                              │
                     y ─► round(y−μ), clamp ─► symbols ──► [latent section]
    recon = crop(g_s((symbols+μ)·inverse_gain))

Decoding repeats the right-hand column from the sections alone. Everything that feeds the entropy
coder is integer (see :mod:`tngvideo.entropy.fixed_point`); the synthesis runs with oneDNN off,
whose float32 convolutions are the same for every thread count, so the decoder's pixels equal
the encoder's reconstruction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.entropy.coder import decode_symbols, encode_symbols
from tngvideo.entropy.fixed_point import FixedPointNetwork, to_real
from tngvideo.entropy.tables import HyperpriorTables
from tngvideo.errors import InputError


@dataclass(frozen=True)
class LatentPayload:
    """The entropy-coded part of one picture: hyper-latents then latents."""

    hyper: bytes
    latent: bytes

    @property
    def num_bytes(self) -> int:
        return len(self.hyper) + len(self.latent)


@dataclass(frozen=True)
class EncodedPicture:
    """What the encoder produced for one picture, and the reconstruction the decoder will produce."""

    payload: LatentPayload
    reconstruction: np.ndarray  # HxWx3 uint8
    clamped_symbols: int  # latents outside the coder's support (clipped; should be ~0)


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
        self._entropy_parameters = FixedPointNetwork(model.h_s)
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

    def _level(self, quality: float) -> torch.Tensor:
        if not 1.0 <= quality <= self.num_levels:
            raise InputError(f"quality must be between 1 and {self.num_levels}, got {quality}")
        return torch.tensor([quality - 1.0], dtype=torch.float32)

    # --- coding -------------------------------------------------------------------------------

    def encode(self, rgb: np.ndarray, quality: float) -> EncodedPicture:
        """Code an HxWx3 uint8 picture at ``quality`` in [1, num_levels] (fractional allowed)."""
        height, width = rgb.shape[:2]
        level = self._level(quality)
        with deterministic_inference():
            x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
            x = self._pad(x)
            gain, _ = self.model.gains(level)
            y = self.model.g_a(x) * gain
            z = self.model.h_a(y)
            hyper = self.tables.hyper
            z_groups = self._channel_groups(z.shape)
            z_symbols = hyper.clamp(torch.round(z).numpy().astype(np.int64).ravel(), z_groups)
            scale_index, means = self._latent_parameters(z_symbols, z.shape)
            raw = torch.round(y.double() - means).numpy().astype(np.int64).ravel()
            latent = self.tables.latent
            y_symbols = latent.clamp(raw, scale_index)
            payload = LatentPayload(
                hyper=encode_symbols(z_symbols, z_groups, hyper),
                latent=encode_symbols(y_symbols, scale_index, latent),
            )
            reconstruction = self._synthesize(y_symbols, means, level, height, width)
        return EncodedPicture(payload, reconstruction, int(np.count_nonzero(raw != y_symbols)))

    def decode(self, payload: LatentPayload, height: int, width: int, quality: float) -> np.ndarray:
        """Reconstruct the HxWx3 uint8 picture; equals the encoder's ``reconstruction`` bit for bit."""
        level = self._level(quality)
        z_shape = self.hyper_latent_shape(height, width)
        with deterministic_inference():
            z_symbols = decode_symbols(payload.hyper, self._channel_groups(z_shape), self.tables.hyper)
            scale_index, means = self._latent_parameters(z_symbols, z_shape)
            y_symbols = decode_symbols(payload.latent, scale_index, self.tables.latent)
            return self._synthesize(y_symbols, means, level, height, width)

    # --- shared steps -------------------------------------------------------------------------

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2:]
        pad_h, pad_w = (-height) % self.stride, (-width) % self.stride
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x

    @staticmethod
    def _channel_groups(shape: tuple[int, ...] | torch.Size) -> np.ndarray:
        channels, plane = shape[1], int(np.prod(shape[2:]))
        return np.repeat(np.arange(channels), plane)

    def _latent_parameters(self, z_symbols: np.ndarray, z_shape: tuple[int, ...] | torch.Size) -> tuple[np.ndarray, torch.Tensor]:
        """Exact (scale index per latent, float64 means) from the integer hyper-latents."""
        z_hat = torch.from_numpy(z_symbols.reshape(tuple(z_shape))).double()
        scales_fixed, means_fixed = self._entropy_parameters(z_hat).chunk(2, dim=1)
        return self.tables.scale_indexes(scales_fixed).ravel(), to_real(means_fixed)

    def _synthesize(self, y_symbols: np.ndarray, means: torch.Tensor, level: torch.Tensor, height: int, width: int) -> np.ndarray:
        y_hat = (torch.from_numpy(y_symbols).double().reshape(means.shape) + means).float()
        _, inverse_gain = self.model.gains(level)
        x_hat = self.model.g_s(y_hat * inverse_gain)[0, :, :height, :width]
        return x_hat.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
