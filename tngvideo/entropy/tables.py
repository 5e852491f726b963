"""The integer coding tables of a hyperprior model, baked once at export and stored with the weights.

Stored as ``coding.*`` tensors in the safetensors file, so the encoder and every decoder code
with identical integers whatever their CPU or libm; only random-init (test) models compute them
on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tngvideo.entropy.coder import PmfTable
from tngvideo.entropy.factorized import FactorizedPrior
from tngvideo.entropy.fixed_point import ACTIVATION_BITS
from tngvideo.entropy.gaussian import scale_pmf_tables, scale_table

HYPER_SUPPORT = 64  # the hyper-latent pmfs cover -64..64 (escapes beyond)
PREFIX = "coding."


@dataclass(frozen=True)
class HyperpriorTables:
    """Pmfs for hyper-latents (one per channel) and latents (one per scale index), and the
    fixed-point thresholds that turn a predicted scale into a scale index."""

    hyper: PmfTable
    latent: PmfTable
    scale_thresholds: np.ndarray  # (SCALE_LEVELS - 1,) int64, in fixed point (ACTIVATION_BITS)

    @classmethod
    def build(cls, z_prior: FactorizedPrior) -> HyperpriorTables:
        """Tabulate from a trained prior (float maths: done once, at export)."""
        hyper_pmfs = z_prior.integer_pmfs(HYPER_SUPPORT).numpy().astype(np.int64)
        hyper_supports = np.full(hyper_pmfs.shape[0], HYPER_SUPPORT, dtype=np.int64)
        scales = scale_table()
        latent_pmfs, latent_supports = scale_pmf_tables(scales)
        midpoints = np.sqrt(scales[:-1] * scales[1:])
        thresholds = np.ceil(midpoints * 2.0**ACTIVATION_BITS).astype(np.int64)
        return cls(PmfTable(hyper_pmfs, hyper_supports), PmfTable(latent_pmfs, latent_supports), thresholds)

    @property
    def scale_index_dtype(self) -> np.dtype:
        """The smallest integer type of a scale index (uint8 for 64 scales): whole-grid arrays of them stay small."""
        return np.min_scalar_type(self.scale_thresholds.size)

    def scale_indexes(self, scales_fixed: torch.Tensor) -> np.ndarray:
        """Scale index of every latent: how many thresholds its fixed-point scale reaches (exact integer compare)."""
        fixed = scales_fixed.numpy().astype(np.int64)
        return np.searchsorted(self.scale_thresholds, fixed, side="right").astype(self.scale_index_dtype)

    def to_tensors(self, prefix: str = PREFIX) -> dict[str, torch.Tensor]:
        """The tables as int32 tensors (every count <= 2**16 and threshold fits, at half the size of
        int64), pmf rows packed without padding (the padded latent table was 1.3 MB, packed 0.18 MB)."""
        arrays = {
            "hyper_pmf_values": self.hyper.packed(),
            "hyper_supports": self.hyper.supports,
            "latent_pmf_values": self.latent.packed(),
            "latent_supports": self.latent.supports,
            "scale_thresholds": self.scale_thresholds,
        }
        return {prefix + name: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int32)) for name, a in arrays.items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str = PREFIX) -> HyperpriorTables:
        """Tables from :meth:`to_tensors`' tensors, or from the zero-padded ``*_pmfs`` of files up to tng-image-v7."""
        arrays = {name[len(prefix) :]: t.numpy().astype(np.int64) for name, t in tensors.items() if name.startswith(prefix)}

        def table(kind: str) -> PmfTable:
            supports = arrays[f"{kind}_supports"]
            if f"{kind}_pmfs" in arrays:
                return PmfTable(arrays[f"{kind}_pmfs"], supports)
            return PmfTable.from_packed(arrays[f"{kind}_pmf_values"], supports)

        return cls(table("hyper"), table("latent"), arrays["scale_thresholds"])
