"""Kodak probe of one training checkpoint (estimated bpp and PSNR at a few levels, BD-rates vs JPEG and WebP).

    python scripts/probe_image.py runs/image/last.safetensors
    python scripts/probe_image.py runs/image-ctx/last.safetensors --without-context   # ablation
    python scripts/probe_image.py runs/image/best.safetensors --validation   # as training validates

Kodak is the final report's set (anchored by the shared reference/kodak_anchors.json); ``--validation``
probes the pictures held out of training instead, with JPEG and WebP measured on them, as training does.

``--without-context`` zeroes the checkerboard correction, leaving the same transforms and
hyperprior: the difference between the two runs is what the spatial context buys.
``--tiles 128`` codes every picture as independent 128x128 tiles (the training crop size): if that
costs fewer bits than whole pictures, the entropy model is calibrated for crops, not pictures
(run ``train_image.py --phase prior``).
Prints one JSON line (the same fields as the training log's eval events).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.paths import data_root
from tngvideo.training.data import TrainingDataConfig, load_validation_pictures
from tngvideo.training.rd_probe import RDProbe, kodak_probe
from tngvideo.zoo import CONFIG_KEY, load_state, read_metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--without-context", action="store_true")
    parser.add_argument("--tiles", type=int, default=None, help="code each picture as independent tiles of this size")
    parser.add_argument("--kodak", type=Path, default=None, help="default: the shared data's kodak/")
    parser.add_argument("--validation", action="store_true", help="probe the training's validation pictures, not Kodak")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = ImageModel(ImageModelConfig.from_json(read_metadata(args.checkpoint)[CONFIG_KEY]))
    model.load_state_dict({k: v.float() for k, v in load_state(args.checkpoint).items() if not k.startswith("coding.")})
    if args.without_context:
        if model.latent.checkerboard is None:
            parser.error(f"{args.checkpoint} has no spatial context")
        with torch.no_grad():
            for parameter in model.latent.checkerboard.correction[-1].parameters():
                parameter.zero_()
    if args.validation:
        probe = RDProbe(load_validation_pictures(data_root(), TrainingDataConfig()))
    else:
        probe = kodak_probe(args.kodak or data_root() / "kodak")
    result = probe.measure(model, args.tiles)
    print(json.dumps({"checkpoint": str(args.checkpoint), "set": "validation" if args.validation else "kodak",
                      "without_context": args.without_context, "tiles": args.tiles, **result}))


if __name__ == "__main__":
    main()
