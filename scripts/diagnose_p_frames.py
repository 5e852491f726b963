"""Where a P-frame model's bits go, and how good its prediction is against other motion, on validation crops.

    python scripts/diagnose_p_frames.py --out results/diagnose_p_frames.json [--model tng-inter-v3]

On the P-frame training's validation crops (frame 0 coded by the intra model, frame 1 predicted from it),
per level: the bits of motion and frame latents and of their hyper-latents (training-time estimates),
and for each way of making the prediction (zero motion; the flow network's dense flow and its 16×16
block averages; the coded motion, before and after the encoder's motion search; OpenCV DIS flow, dense
and averaged over 16×16 and 8×8 blocks, when OpenCV is installed) the prediction's PSNR and what the
frame coder then spends (motion bits not counted). Findings: docs/training.md, *Session 15*.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from tngvideo.codecs.flow import warp
from tngvideo.codecs.inter_model import MOTION_BLOCK, InterModel
from tngvideo.codecs.motion_search import DEFAULT_SEARCH_STEPS, search_motion
from tngvideo.evaluation.rd import environment
from tngvideo.paths import data_root
from tngvideo.tng_inter import load_video_models
from tngvideo.training.inter_task import InterTrainingConfig
from tngvideo.training.video_data import SequenceCrops, VideoDataConfig, load_video_segments


def _psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return float(-10 * torch.log10(((x_hat.clamp(0, 1) - x) ** 2).mean()))


def _bits(likelihoods: torch.Tensor) -> float:
    """Mean bits per crop."""
    return float(-torch.log2(likelihoods).sum((1, 2, 3)).mean())


def _blocks(flow: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(F.avg_pool2d(flow, size), size=flow.shape[2:], mode="bilinear", align_corners=False)


def _dis_flow(reference: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
    try:
        import cv2  # a training-only extra
    except ImportError:
        return None
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]

    def gray(t: torch.Tensor) -> np.ndarray:
        return cv2.cvtColor((t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), cv2.COLOR_RGB2GRAY)

    return torch.stack([torch.from_numpy(dis.calc(gray(x[b]), gray(reference[b]), None)).permute(2, 0, 1)
                        for b in range(x.shape[0])])


def _searched_prediction(model: InterModel, reference: torch.Tensor, x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """The prediction after the encoder's motion search (each crop searched on its own cost, in one batch)."""
    features = model.motion.features(model.flow(reference, x))
    searched = search_motion(model, reference, x, features, level, DEFAULT_SEARCH_STEPS, *x.shape[2:])
    return warp(reference, model.motion.synthesize(model.motion.latent(searched, level).decoded))


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="shipped inter model (default: the newest)")
    parser.add_argument("--levels", type=float, nargs="+", default=[1.0, 3.0, 5.0, 7.0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    models = load_video_models(args.model)
    assert models.inter is not None
    model, intra = models.inter.codec.model.eval(), models.intra.codec.model.eval()
    config = InterTrainingConfig()
    segments = load_video_segments(data_root(), VideoDataConfig(), "validation", Path("runs/cache"))
    frames = SequenceCrops(segments, 2, config.validation_crop, seed=12345).batch(config.validation_sequences)
    pixels = frames.shape[3] * frames.shape[4]
    report: dict[str, object] = {"model": models.inter.name, "crops": list(frames.shape), "levels": {}}
    for value in args.levels:
        level = torch.full((frames.shape[0],), value)
        reference, x = intra(frames[:, 0], level).x_hat.clamp(0, 1), frames[:, 1]
        out = model(reference, x, level)
        bits = {name: round(_bits(likelihoods) / pixels, 4) for name, likelihoods in (
            ("motion", out.motion.y_likelihoods), ("motion_hyper", out.motion.z_likelihoods),
            ("frame", out.frame.y_likelihoods), ("frame_hyper", out.frame.z_likelihoods))}
        flow = model.flow(reference, x)
        predictions = {"zero motion": reference, "flow dense": warp(reference, flow),
                       "flow 16x16 blocks": warp(reference, _blocks(flow, MOTION_BLOCK)), "coded": out.prediction}
        with torch.enable_grad():
            predictions[f"coded, motion search {DEFAULT_SEARCH_STEPS}"] = _searched_prediction(model, reference, x, level)
        dis = _dis_flow(reference, x)
        if dis is not None:
            predictions |= {"DIS dense": warp(reference, dis), "DIS 16x16 blocks": warp(reference, _blocks(dis, 16)),
                            "DIS 8x8 blocks": warp(reference, _blocks(dis, 8))}
        coded_with = {}
        context = model.context_of(None, out.flow)  # the first P-frame of a GOP: nothing propagated yet
        for name, prediction in predictions.items():
            frame = model.frame_latent(model.frame_features(x, prediction, context), level)
            x_hat = model.frame_synthesis(frame.decoded, prediction, context)
            coded_with[name] = {"prediction_psnr": round(_psnr(prediction, x), 3),
                                "frame_bpp": round(float(frame.bits().mean()) / pixels, 4),
                                "psnr": round(_psnr(x_hat, x), 3)}
        report["levels"][str(value)] = {"bits_per_pixel": bits, "predictions": coded_with}  # type: ignore[index]
        print(json.dumps({"level": value, "bits_per_pixel": bits, "predictions": coded_with}), flush=True)
    report["environment"] = environment()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
