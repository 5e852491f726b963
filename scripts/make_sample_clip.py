"""Cut the shipped sample clip: the first frames of the *training* clip foreman_qcif, remuxed.

    python scripts/make_sample_clip.py            # writes tests/data/sample_foreman_qcif.mp4

The H.264 packets are copied, not re-encoded: the source is Constrained Baseline (no B-frames, one
IDR first), so its first N packets are exactly its first N pictures, bit for bit, and smaller than
any lossless re-encode. The raw stream has no timing; the mp4 gets 25 fps, as the data README says.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av

from tngvideo.paths import REPO_ROOT, data_root

SOURCE = Path("video/train/foreman_qcif/BAMQ1_JVC_C.264")
FPS = Fraction(25)


def cut(source: Path, target: Path, frames: int) -> None:
    """Copy the first ``frames`` coded pictures of a raw H.264 stream into an mp4, timestamped at FPS."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        pictures = (packet for packet in inp.demux(in_stream) if packet.size)
        for index, packet in enumerate(islice(pictures, frames)):
            packet.stream = out_stream
            packet.time_base = 1 / FPS
            packet.pts = packet.dts = index
            packet.duration = 1
            out.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=None, help="shared data root (default: $TNGVIDEO_DATA or ../shared/data)"
    )
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "data" / "sample_foreman_qcif.mp4")
    args = parser.parse_args()
    cut((args.data or data_root()) / SOURCE, args.out, args.frames)
    print(f"{args.out}: {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
