"""``tngvideo eval CLIP``: per-frame rate and quality of tngvideo and of x264/x265 on the same frames.

Until the P-frame codec exists, tngvideo codes every frame as an I-frame with the shipped image
model ("tngvideo-intra", as ``tngvideo encode`` does); that is what is measured and labelled, nothing
else. A frame's bits are its unit in the .tngv stream (the 53 bytes of file header and END are not
spread over the frames). The anchors are
x264 and x265 (preset medium, 4:2:0, PSNR-tuned, closed GOP) from ``tngvideo.anchors.video``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from tngvideo.anchors.video import DEFAULT_CRFS, FrameRecord, VideoAnchor, VideoResult, encode_clip, summarise
from tngvideo.codecs.latent_refinement import refine_latents
from tngvideo.errors import ModelError
from tngvideo.evaluation.image_eval import bd_of_test_against_each, format_bd_against
from tngvideo.evaluation.rd import (
    RDReport,
    environment,
    format_points_table,
    mean_per_setting,
    plot_report,
    save_report,
)
from tngvideo.io.frames import VideoSource, open_video
from tngvideo.metrics import msssim, psnr, yuv_psnr
from tngvideo.tng_image import LoadedImageCodec, load_image_codec
from tngvideo.tng_video import encode_intra_frame

TNG_INTRA = "tngvideo-intra"


def eval_anchors(gop: int) -> list[VideoAnchor]:
    """The anchors ``tngvideo eval`` runs: x264 and x265, medium, 4:2:0, PSNR-tuned."""
    return [VideoAnchor(encoder, "medium", "420", "psnr", gop) for encoder in ("libx264", "libx265")]


def code_clip_intra(
    source: VideoSource,
    loaded: LoadedImageCodec,
    qualities: Sequence[float],
    max_frames: int | None,
    refine_steps: int = 0,
) -> list[VideoResult]:
    """Every frame coded alone by the image codec at each quality, in one streamed pass over the clip
    (with ``refine_steps`` of latent refinement per frame and quality, as ``tngvideo encode --refine``)."""
    records: dict[float, list[FrameRecord]] = {q: [] for q in qualities}
    total = min(source.info.frame_count or 0, max_frames or sys.maxsize) or None
    for index, frame in enumerate(
        tqdm(islice(source.frames(), max_frames), total=total, unit="frame", file=sys.stderr)
    ):
        picture = loaded.codec.analyse(frame)  # once per frame, not per quality
        for quality in qualities:
            refined = refine_latents(loaded.codec, frame, picture, quality, refine_steps)
            encoded = encode_intra_frame(refined, quality, loaded)
            planes = yuv_psnr(frame, encoded.reconstruction)
            records[quality].append(
                FrameRecord(
                    index,
                    True,
                    "I",
                    8 * len(encoded.unit),
                    psnr(frame, encoded.reconstruction),
                    planes["psnr_y"],
                    planes["psnr_yuv"],
                    msssim(frame, encoded.reconstruction),
                )
            )
    height, width = source.info.height, source.info.width
    return [summarise(TNG_INTRA, quality, frames, width, height) for quality, frames in records.items() if frames]


def run_video_eval(
    clip: Path, out: Path | None, max_frames: int | None, gop: int, model: str | None = None, refine_steps: int = 0
) -> RDReport:
    """Measure tngvideo-intra and the anchors; print tables, save JSON/CSV/plot.

    ``model`` names the image model (default: the newest shipped one; without any, only the anchors
    are measured). A named model that cannot be loaded is an error, not a silent anchors-only run.
    """
    out = out or Path("results") / f"eval_{clip.stem}"
    source = open_video(clip)  # one open serves tngvideo and the anchors; an unreadable clip fails before model load
    results: list[VideoResult] = []
    settings: dict[str, str] = {}
    try:
        loaded = load_image_codec(model)
    except ModelError as exc:
        if model is not None:
            raise
        print(f"tngvideo: no shipped image model ({exc}); measuring the anchors only", file=sys.stderr)
    else:
        qualities = [float(q) for q in range(1, loaded.codec.num_levels + 1)]
        results += code_clip_intra(source, loaded, qualities, max_frames, refine_steps)
        refinement = f", latent refinement {refine_steps} steps" if refine_steps else ""
        settings[TNG_INTRA] = f"every frame an I-frame of image model {loaded.name!r}, qualities {qualities}{refinement}"
    for anchor in eval_anchors(gop):
        for crf in DEFAULT_CRFS[anchor.encoder]:
            results.append(encode_clip(source, anchor, crf, max_frames))
        settings[anchor.name] = anchor.describe()
    curves = mean_per_setting(results)
    reference = eval_anchors(gop)[0].name
    report = RDReport(
        f"{clip.name}: tngvideo vs x264/x265", reference, curves, settings=settings, environment=environment()
    )
    save_report(report, out / "rd.json")
    plot_report(report, out / "rd.png")
    _save_frames(results, out / "frames")
    print(format_points_table(curves))
    if TNG_INTRA in curves:
        print()
        print(format_bd_against(bd_of_test_against_each(curves, TNG_INTRA), TNG_INTRA))
    print(f"\nwrote {out}/rd.json, rd.png, frames.json, frames.csv")
    return report


def _save_frames(results: list[VideoResult], stem: Path) -> None:
    """Per-frame records of every run, as JSON and CSV."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1) + "\n")
    rows = ["codec,setting,frame,type,bits,psnr,psnr_y,psnr_yuv,msssim"]
    for result in results:
        rows += [
            f"{result.codec},{result.setting:g},{f.index},{f.pict_type},{f.bits},{f.psnr:.4f},{f.psnr_y:.4f},"
            f"{f.psnr_yuv:.4f},{f.msssim:.6f}"
            for f in result.records
        ]
    stem.with_suffix(".csv").write_text("\n".join(rows) + "\n")
