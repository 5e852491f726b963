"""Encode / decode time of the shipped image codec per picture (median over a folder), as JSON.

    python scripts/bench_speed.py ../shared/data/kodak --quality 4 --threads 2

Times the whole file path (network, entropy coding, container) in-process, after one warm-up
picture; the decoder's output is checked against the encoder's reconstruction on every picture.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from tngvideo.evaluation.rd import environment
from tngvideo.io.pictures import picture_paths, read_picture
from tngvideo.tng_image import decode_image, encode_image, load_image_codec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path)
    parser.add_argument("--quality", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("results/speed.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_image_codec(args.model)
    pictures = [(path.name, read_picture(path)) for path in picture_paths(args.images)]
    encode_image(pictures[0][1], args.quality, loaded)  # warm-up: allocator, BLAS threads

    rows = []
    for name, rgb in pictures:
        start = time.perf_counter()
        encoded = encode_image(rgb, args.quality, loaded)
        middle = time.perf_counter()
        decoded = decode_image(encoded.data, loaded)
        end = time.perf_counter()
        if not np.array_equal(decoded, encoded.reconstruction):
            raise SystemExit(f"{name}: decoder output differs from the encoder's reconstruction")
        rows.append({"image": name, "width": rgb.shape[1], "height": rgb.shape[0], "bytes": len(encoded.data),
                     "encode_s": round(middle - start, 4), "decode_s": round(end - middle, 4)})
        print(f"{name}: encode {middle - start:.3f} s, decode {end - middle:.3f} s")
    summary = {
        "model": loaded.name,
        "quality": args.quality,
        "threads": args.threads,
        "median_encode_s": statistics.median(r["encode_s"] for r in rows),
        "median_decode_s": statistics.median(r["decode_s"] for r in rows),
        "images": rows,
        "environment": environment(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"median encode {summary['median_encode_s']:.3f} s, decode {summary['median_decode_s']:.3f} s -> {args.out}")


if __name__ == "__main__":
    main()
