"""Speed and memory of the video codec: frames per second (median over the clip) for encode and decode,
seconds per P-frame stage, and peak resident memory; run on an idle machine.

    python scripts/bench_video_codec.py ../shared/data/video/eval/foreman_cif --frames 32
    python scripts/bench_video_codec.py ../shared/data/video/train/openh264_street_1080p --frames 8

Prints a summary and writes JSON (default results/bench_video_codec/<clip>.json). Each clip runs in
this process: run one clip per invocation to read its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from itertools import islice
from pathlib import Path

import torch

from tngvideo.bitstream import FrameType, VideoHeader
from tngvideo.codecs.block_skip import DEFAULT_SKIP_BLOCKS
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.codecs.inter_codec import StageTimes
from tngvideo.codecs.motion_search import DEFAULT_SEARCH_STEPS
from tngvideo.entropy.coder import CODER_ID
from tngvideo.evaluation.rd import environment
from tngvideo.io.frames import open_video
from tngvideo.tng_inter import load_video_models
from tngvideo.video_coder import GopPolicy, VideoDecoder, VideoEncoder

TYPE_LETTER = {FrameType.INTRA: "I", FrameType.INTER: "P"}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--quality", type=float, default=6.0)
    parser.add_argument("--gop", type=int, default=32)
    parser.add_argument("--model", default=None, help="inter model name (default: the newest shipped)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--motion-search", type=int, default=DEFAULT_SEARCH_STEPS, metavar="N",
                        help=f"encoder motion search steps per P-frame (default {DEFAULT_SEARCH_STEPS})")
    parser.add_argument("--skip-blocks", action=argparse.BooleanOptionalAction, default=DEFAULT_SKIP_BLOCKS,
                        help=f"encoder skip decisions (codecs/block_skip.py; default {'on' if DEFAULT_SKIP_BLOCKS else 'off'})")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = load_video_models(args.model)
    source = open_video(args.clip)
    info = source.info
    frames = list(islice(source.frames(), args.frames))
    encode_times, decode_times = StageTimes(), StageTimes()
    settings = EncoderSettings(motion_search_steps=args.motion_search, skip_blocks=args.skip_blocks)
    encoder = VideoEncoder(models, args.quality, GopPolicy(args.gop), settings=settings, times=encode_times)
    encode_seconds: dict[str, list[float]] = {"I": [], "P": []}
    units = []
    for frame in frames:
        started = time.perf_counter()
        (unit,) = encoder.encode(frame)
        encode_seconds[TYPE_LETTER[unit.frame_type]].append(time.perf_counter() - started)
        units.append(unit)
    decoder = VideoDecoder(VideoHeader(CODER_ID, models.table(), info.width, info.height, info.fps, passes=models.passes()), models,
                           times=decode_times)
    decode_seconds: dict[str, list[float]] = {"I": [], "P": []}
    for unit in units:
        started = time.perf_counter()
        (picture,) = decoder.decode(unit.frame)
        decode_seconds[TYPE_LETTER[unit.frame_type]].append(time.perf_counter() - started)
        if not (picture == unit.reconstruction).all():
            raise SystemExit("decoded frame differs from the encoder's reconstruction")
    all_encode = encode_seconds["I"] + encode_seconds["P"]
    all_decode = decode_seconds["I"] + decode_seconds["P"]
    p_frames = max(len(encode_seconds["P"]), 1)
    result = {
        "clip": str(args.clip), "size": f"{info.width}x{info.height}", "frames": len(frames), "gop": args.gop,
        "quality": args.quality, "threads": args.threads, "motion_search_steps": args.motion_search,
        "skip_blocks": settings.skip_blocks, "models": [models.intra.name, models.inter.name if models.inter else None],
        "encode_fps_median": round(1 / statistics.median(all_encode), 3),
        "decode_fps_median": round(1 / statistics.median(all_decode), 3),
        "encode_seconds_median": {k: round(statistics.median(v), 4) for k, v in encode_seconds.items() if v},
        "decode_seconds_median": {k: round(statistics.median(v), 4) for k, v in decode_seconds.items() if v},
        "p_frame_encode_stage_seconds": {k: round(v / p_frames, 4) for k, v in encode_times.seconds.items()},
        "p_frame_decode_stage_seconds": {k: round(v / p_frames, 4) for k, v in decode_times.seconds.items()},
        "bytes": sum(len(u.data) for u in units),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "environment": environment(),
    }
    out = args.out or Path("results") / "bench_video_codec" / f"{args.clip.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
