"""A quick RD probe of the image network: estimated bpp and PSNR at a few levels, BD-rates vs JPEG and WebP.

Uses the model's rate estimate (not real coding) so it costs only forward passes; the shipped
numbers come from the real codec in ``tngvideo image eval``. It also reports the model's top level against the
anchors (the probed lambdas stop below it, where the anchors are hardest to beat), and the transforms' ceiling:
the PSNR of the highest probed level decoded from *unquantized* latents. When the quantized PSNR
nears it, more rate cannot buy quality; only better transforms can (measured on v3: 34.9 dB ceiling
at lambda 0.18, 34.3 dB quantized, where JPEG reaches 36.8 dB at the same rate).

Two uses, on two picture sets:

- **validation** during training (``training.image_task``): the held-out pictures of ``training.data``,
  with anchor curves measured here by Pillow on the very same pixels (real file sizes, once per run);
- **the final report** of a checkpoint on Kodak (:func:`kodak_probe`, ``scripts/probe_image.py``), with
  the shared reference anchor curves when they exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from tngvideo.anchors.image import JpegAnchor, PillowAnchor, WebpAnchor
from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.evaluation.rd import psnr_gap_at
from tngvideo.io.pictures import picture_paths, read_picture
from tngvideo.metrics import bd_rate_percent, bits_per_pixel, psnr, psnr_from_mse

# Probed by lambda, not level index, so curves stay comparable when a model's ladder grows.
PROBE_LAMBDAS = (0.0018, 0.0067, 0.025, 0.0932)
# Anchors of the probe's BD-rates: JPEG (the learning curves' measure) and WebP (the closest one to beat).
PROBE_ANCHORS = ("jpeg", "webp")

AnchorCurve = tuple[list[float], list[float]]  # (bpp, PSNR) per quality setting, in increasing rate


def measure_anchor_curves(pictures: Sequence[np.ndarray]) -> dict[str, AnchorCurve]:
    """JPEG and WebP (``tngvideo.anchors.image``, their default quality sweeps) on HxWx3 uint8 pictures:
    at each quality, the mean over the pictures of the file's bpp and of the RGB PSNR. Empty without pictures."""
    if not pictures:
        return {}
    anchors: tuple[PillowAnchor, ...] = (JpegAnchor(), WebpAnchor())
    curves = {}
    for anchor in anchors:
        points = []
        for setting in anchor.settings:
            bpps, psnrs = [], []
            for rgb in pictures:
                size, decoded = anchor.round_trip(rgb, setting)
                bpps.append(bits_per_pixel(size, rgb.shape[1], rgb.shape[0]))
                psnrs.append(psnr(rgb, decoded))
            points.append((float(np.mean(bpps)), float(np.mean(psnrs))))
        points.sort()
        curves[anchor.name] = ([bpp for bpp, _ in points], [quality for _, quality in points])
    return curves


def reference_anchor_curves(reference_json: Path) -> dict[str, AnchorCurve]:
    """The probe's anchor curves from a reference file (``reference/kodak_anchors.json``'s format)."""
    curves = json.loads(reference_json.read_text())["curves"]
    return {name: ([p["bpp"] for p in curves[name]], [p["psnr"] for p in curves[name]])
            for name in PROBE_ANCHORS if name in curves}


def trimmed_to_stride(picture: np.ndarray, stride: int = ImageModelConfig.STRIDE) -> np.ndarray:
    """The centre of a picture, cut to multiples of the network's stride (the probe runs it unpadded)."""
    height, width = (side - side % stride for side in picture.shape[:2])
    if not height or not width:
        raise ValueError(f"a {picture.shape[1]}x{picture.shape[0]} picture is smaller than the stride {stride}")
    top, left = (picture.shape[0] - height) // 2, (picture.shape[1] - width) // 2
    return picture[top : top + height, left : left + width]


class RDProbe:
    """Holds pictures in RAM as tensors; ``measure(model)`` returns a JSON-able summary.

    Args:
        pictures: HxWx3 uint8 pictures, each probed as its centre cut to multiples of the stride.
        anchor_curves: the anchors' curves on these pictures; None: measured here (:func:`measure_anchor_curves`).
    """

    def __init__(self, pictures: Sequence[np.ndarray], anchor_curves: Mapping[str, AnchorCurve] | None = None):
        trimmed = [trimmed_to_stride(picture) for picture in pictures]
        self.images = [torch.from_numpy(np.ascontiguousarray(p)).permute(2, 0, 1)[None].float() / 255.0
                       for p in trimmed]
        self.anchor_curves = dict(measure_anchor_curves(trimmed) if anchor_curves is None else anchor_curves)

    @torch.no_grad()
    def measure(self, model: ImageModel, tile: int | None = None) -> dict[str, object]:
        """Probe at PROBE_LAMBDAS; with ``tile``, every picture is coded (ceiling included) as independent
        tile × tile pieces, which shows how much the entropy model's calibration depends on the picture size.
        Without pictures, only their count (0)."""
        if not self.images:
            return {"pictures": 0}
        was_training = model.training
        model.eval()
        levels = [model.config.level_of(lam) for lam in PROBE_LAMBDAS]
        top_level = float(len(model.config.level_lambdas) - 1)
        measured_levels = [*levels, top_level]
        level_bpps: list[list[float]] = [[] for _ in measured_levels]
        level_psnrs: list[list[float]] = [[] for _ in measured_levels]
        ceiling_psnrs = []
        for picture in self.images:  # the analysis once per picture: only the gains depend on the level
            x = picture if tile is None else split_into_tiles(picture, tile)
            features = model.g_a(x.contiguous(memory_format=torch.channels_last))
            ceiling_psnrs.append(_unquantized_psnr(model, features, levels[-1], x))
            for index, level in enumerate(measured_levels):
                gain, inverse_gain = model.latent.gains(torch.full((x.shape[0],), level))
                out = model.from_latents(features * gain, inverse_gain)
                level_bpps[index].append(out.bits_per_pixel().mean().item())
                level_psnrs[index].append(_psnr_of_8_bit_output(out.x_hat, x))
        bpps = [float(np.mean(values)) for values in level_bpps]
        psnrs = [float(np.mean(values)) for values in level_psnrs]
        top_bpp, top_psnr = bpps.pop(), psnrs.pop()
        result: dict[str, object] = {"pictures": len(self.images), "lambdas": list(PROBE_LAMBDAS), "levels": levels,
                                     "bpp": bpps, "psnr": psnrs}
        result["unquantized_psnr"] = float(np.mean(ceiling_psnrs))
        top: dict[str, object] = {"level": top_level, "lambda": model.config.level_lambdas[-1], "bpp": top_bpp,
                                  "psnr": top_psnr}
        model.train(was_training)
        for name, (anchor_bpps, anchor_psnrs) in self.anchor_curves.items():
            result[f"bd_rate_vs_{name}_percent"] = bd_rate_percent(anchor_bpps, anchor_psnrs, bpps, psnrs)
            top[f"psnr_gap_vs_{name}_db"] = psnr_gap_at(top_bpp, top_psnr, anchor_bpps, anchor_psnrs)
        result["top_level"] = top
        return result


def kodak_probe(kodak_dir: Path, reference_json: Path | None = None) -> RDProbe:
    """The probe of the final report: every picture of ``kodak_dir``, anchored by ``reference_json``
    (default: the shared ``reference/kodak_anchors.json`` beside it) or, if there is none, by anchors measured
    on the pictures."""
    pictures = [read_picture(path) for path in picture_paths(kodak_dir)]
    reference_json = reference_json or kodak_dir.parent / "reference" / "kodak_anchors.json"
    return RDProbe(pictures, reference_anchor_curves(reference_json) if reference_json.exists() else None)


def _unquantized_psnr(model: ImageModel, features: torch.Tensor, level: float, x: torch.Tensor) -> float:
    """PSNR of the synthesis from the analysis latents, rounding skipped: the transforms' ceiling."""
    gain, inverse_gain = model.latent.gains(torch.tensor([level]))
    return _psnr_of_8_bit_output(model.g_s(features * gain * inverse_gain), x)


def _psnr_of_8_bit_output(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    """PSNR of a network output once clamped and rounded to 8 bits, as the codec writes it."""
    mse = torch.mean((x_hat.clamp(0, 1).mul(255).round() - x * 255) ** 2).item()
    return psnr_from_mse(mse)


def split_into_tiles(picture: torch.Tensor, size: int) -> torch.Tensor:
    """(1, C, H, W) -> (tiles, C, size, size), row by row."""
    _, channels, height, width = picture.shape
    if height % size or width % size:
        raise ValueError(f"a {width}x{height} picture does not split into {size}x{size} tiles")
    tiles = picture.unfold(2, size, size).unfold(3, size, size)
    return tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, channels, size, size)
