"""Time and peak memory of the CLI at several picture sizes, each command in its own process, as JSON.

    python scripts/bench_memory.py --out results/memory.json

Cases (what a user runs, `tngvideo ...` as a subprocess; peak RSS from the kernel's accounting of that process):

- image encode and decode of a photograph resized to 768x512 (Kodak's size), 1920x1080 and 6000x4000
  (a phone camera's size); the photograph is a training photo (``--photo``), resized with Lanczos;
- 8 frames of 1920x1080 video (``--clip``, a training clip), encoded with P-frames (GOP 32) and decoded;
- a 20000x20000 picture, which the format refuses: the time to the one-line refusal and its message.

Run on an idle machine: the times are wall-clock. A child's peak RSS as Linux reports it is at least this
process's resident memory at the fork (~0.1 GB: torch is imported only at the end, for the environment record).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from tngvideo.paths import data_root

IMAGE_SIZES = ((768, 512), (1920, 1080), (6000, 4000))
REFUSED_SIZE = (20000, 20000)


def run(command: list[str]) -> dict[str, object]:
    """Run ``tngvideo`` with ``command``; its wall time, peak RSS, exit code and last line of stderr."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tngvideo", *command], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = [line for line in stderr.splitlines() if line.strip() and "\r" not in line]
    return {"command": "tngvideo " + " ".join(command), "seconds": round(seconds, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "exit_code": process.returncode,
            "last_stderr_line": lines[-1] if lines else ""}


def picture_of_size(photo: Path, size: tuple[int, int], folder: Path) -> Path:
    path = folder / f"photo_{size[0]}x{size[1]}.png"
    Image.open(photo).convert("RGB").resize(size, Image.Resampling.LANCZOS).save(path, compress_level=1)
    return path


def refused_picture(folder: Path) -> Path:
    """A real PNG of REFUSED_SIZE (flat grey: small on disk, 1.2 GB as pixels), made in a child process: Linux
    counts the parent's resident memory at the fork in a child's peak RSS, so this process stays small."""
    path = folder / f"huge_{REFUSED_SIZE[0]}x{REFUSED_SIZE[1]}.png"
    width, height = REFUSED_SIZE
    make = ("import numpy as np; from PIL import Image; "
            f"Image.fromarray(np.full(({height}, {width}, 3), 128, np.uint8)).save({str(path)!r}, compress_level=1)")
    subprocess.run([sys.executable, "-c", make], check=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = data_root()
    parser.add_argument("--photo", type=Path, default=root / "images/clic2025/097cb426910ba8ce2525dd8bb7fb1777.png")
    parser.add_argument("--clip", type=Path, default=root / "video/train/openh264_street_1080p")
    parser.add_argument("--quality", type=float, default=6.0)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("results/memory.json"))
    args = parser.parse_args()
    quality = f"{args.quality:g}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in IMAGE_SIZES:
            picture = picture_of_size(args.photo, size, folder)
            coded, decoded = folder / f"{picture.stem}.tng", folder / f"{picture.stem}.decoded.png"
            for stage, command in (("encode", ["image", "encode", str(picture), str(coded), "--quality", quality]),
                                   ("decode", ["image", "decode", str(coded), str(decoded)])):
                rows.append({"case": f"image {size[0]}x{size[1]}", "stage": stage, **run(command)})
                print(json.dumps(rows[-1]), flush=True)
        video = folder / "clip.tngv"
        for stage, command in (("encode", ["encode", str(args.clip), str(video), "--quality", quality,
                                           "--frames", str(args.frames)]),
                               ("decode", ["decode", str(video), str(folder / "clip.y4m")])):
            rows.append({"case": f"video 1920x1080, {args.frames} frames", "stage": stage, **run(command)})
            print(json.dumps(rows[-1]), flush=True)
        huge = refused_picture(folder)
        rows.append({"case": f"image {REFUSED_SIZE[0]}x{REFUSED_SIZE[1]}", "stage": "encode (refused)",
                     **run(["image", "encode", str(huge), str(folder / "huge.tng")])})
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from tngvideo.evaluation.rd import environment  # imports torch: only now

    args.out.write_text(json.dumps({"quality": args.quality, "cases": rows, "environment": environment()}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
