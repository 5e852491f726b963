"""``tngvideo eval CLIP``: tngvideo's real encoder and decoder against x264/x265 on the same frames.

Curves (RGB PSNR and MS-SSIM, averaged over frames; bpp = all frame bits / (frames x W x H)):

- ``tngvideo``: exactly what ``tngvideo encode --gop N`` writes (I-frames of the intra model, P-frames
  of the inter model), present when an inter model is shipped (or named);
- ``tngvideo-intra``: every frame an I-frame of the same intra model (``--gop 1``); the only tngvideo
  curve while no inter model is shipped (labelled so, with a warning);
- the anchors of :func:`eval_anchors` at the same GOP on the same frames.

Each quality is coded into a temporary .tngv file by :func:`~tngvideo.tng_video.encode_video`, which
reports every unit (the per-frame records measure the encoder's reconstruction against the source);
the file is then decoded by :func:`~tngvideo.tng_video.open_tngv` and every decoded frame must equal
the encoder's reconstruction, or the evaluation stops with an error. A frame's bits are its unit in
the stream: the file header, the I-frame index and the END chunk (about 70 bytes) are not spread
over the frames.

Qualities: every second level by default (2, 4, 6, 8, 10 of a 10-level model): five points that span
the ladder (the anchors have four CRFs each), at half the time of all ten; ``--quality`` overrides.
The per-frame table is printed for quality 6 (the quality the P-frame acceptance checks) when it is
measured, else for the middle quality.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from tngvideo.anchors.video import DEFAULT_CRFS, FrameRecord, VideoAnchor, VideoResult, encode_clip, summarise
from tngvideo.bitstream import VIDEO_FORMAT_VERSION, FrameType
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.errors import ModelError, UsageError
from tngvideo.evaluation.baselines import Baselines, load_baselines, source_digest
from tngvideo.evaluation.image_eval import bd_of_test_against_each, check_reports, format_bd_against
from tngvideo.evaluation.rd import (
    RDReport,
    environment,
    format_points_table,
    load_report,
    mean_per_setting,
    plot_report,
    rounded_or_none,
    save_report,
)
from tngvideo.io.atomic import write_text_atomic
from tngvideo.io.frames import VideoSource, open_video
from tngvideo.metrics import msssim, psnr, yuv_psnr
from tngvideo.tng_inter import VideoModels, choose_video_models
from tngvideo.tng_video import encode_video, open_tngv
from tngvideo.video_coder import DEFAULT_INTER_QUALITY_OFFSET, EncodedUnit, GopPolicy

TNG_CURVE = "tngvideo"  # the codec as `tngvideo encode` runs it: I- and P-frames
TNG_INTRA = "tngvideo-intra"  # every frame an I-frame (GOP 1)
TABLE_QUALITY = 6.0
REPORT_FILES = ("rd.json", "rd.png", "frames.json", "frames.csv")  # what run_video_eval writes in its folder


def eval_anchors(gop: int) -> list[VideoAnchor]:
    """The anchors ``tngvideo eval`` runs, closed GOP ``gop``, 4:2:0: x264 veryfast with its low-delay
    tune (the first, and the report's reference: what a real-time user picks), x264 and x265 medium
    PSNR-tuned (the stronger bars)."""
    return [
        VideoAnchor("libx264", "veryfast", "420", "zerolatency", gop),
        VideoAnchor("libx264", "medium", "420", "psnr", gop),
        VideoAnchor("libx265", "medium", "420", "psnr", gop),
    ]


def default_qualities(num_levels: int) -> tuple[float, ...]:
    """Every second quality level, from 2 up: the default sweep (see module docstring)."""
    return tuple(float(q) for q in range(2, num_levels + 1, 2)) or (1.0,)


def table_quality(qualities: Sequence[float]) -> float:
    """The quality whose per-frame table is printed: 6 when measured, else the middle one."""
    return TABLE_QUALITY if TABLE_QUALITY in qualities else sorted(qualities)[len(qualities) // 2]


def _digest(picture: np.ndarray) -> bytes:
    digest = hashlib.blake2b(np.ascontiguousarray(picture).tobytes(), digest_size=16)
    digest.update(repr(picture.shape).encode())
    return digest.digest()


def code_clip(
    source: VideoSource,
    models: VideoModels,
    gop: GopPolicy,
    qualities: Sequence[float],
    name: str,
    max_frames: int | None = None,
    settings: EncoderSettings = EncoderSettings(),
    version: int = VIDEO_FORMAT_VERSION,
) -> list[VideoResult]:
    """The clip through the real encoder and decoder at each quality (see module docstring), measured
    per frame, written in format ``version`` (tng_video.encode_video); raises RuntimeError when a decoded frame
    differs from the encoder's reconstruction."""
    info = source.info
    results = []
    with tempfile.TemporaryDirectory(prefix="tngvideo-eval-") as folder:
        for quality in qualities:
            print(f"{name}, quality {quality:g}:", file=sys.stderr)
            path = Path(folder) / f"{name}-q{quality:g}.tngv"
            records, digests = _encode_measured(source, path, models, gop, quality, max_frames, settings, version)
            _check_decoder(path.read_bytes(), models, digests, f"{name} quality {quality:g}")
            results.append(summarise(name, quality, records, info.width, info.height))
    return results


def _encode_measured(
    source: VideoSource, path: Path, models: VideoModels, gop: GopPolicy, quality: float, max_frames: int | None,
    settings: EncoderSettings, version: int,
) -> tuple[list[FrameRecord], list[bytes]]:
    """Encode into ``path``; every frame's record, and a digest of what the decoder must reproduce
    (digests, not pictures: the clip need not fit in memory)."""
    records: list[FrameRecord] = []
    digests: list[bytes] = []

    def measure(index: int, frame: np.ndarray, unit: EncodedUnit) -> None:
        reconstruction = unit.reconstruction
        planes = yuv_psnr(frame, reconstruction)
        intra = unit.frame_type == FrameType.INTRA
        records.append(FrameRecord(index, intra, "I" if intra else "P", 8 * len(unit.data), psnr(frame, reconstruction),
                                   planes["psnr_y"], planes["psnr_yuv"], msssim(frame, reconstruction)))
        digests.append(_digest(reconstruction))

    encode_video(source, path, models, quality, gop, max_frames, progress=True, settings=settings, on_unit=measure,
                 version=version)
    return records, digests


def _check_decoder(data: bytes, models: VideoModels, digests: Sequence[bytes], what: str) -> None:
    decoded = 0
    for index, picture in enumerate(open_tngv(data, models).frames()):
        if index >= len(digests) or _digest(picture) != digests[index]:
            raise RuntimeError(f"{what}: decoded frame {index} differs from the encoder's reconstruction")
        decoded += 1
    if decoded != len(digests):
        raise RuntimeError(f"{what}: the decoder returned {decoded} frames, the encoder coded {len(digests)}")


def run_video_eval(
    clip: Path,
    out: Path | None,
    max_frames: int | None,
    gop: int,
    model: str | None = None,
    qualities: Sequence[float] | None = None,
    overwrite: bool = True,
    inter_quality_offset: float = DEFAULT_INTER_QUALITY_OFFSET,
    settings: EncoderSettings = EncoderSettings(),
    baselines: Path | None = None,
) -> RDReport:
    """Measure tngvideo (and tngvideo-intra) and the anchors; print tables, save JSON/CSV/plot.

    ``model`` names an inter model (its intra model comes with it) or an image model (all-intra only);
    default: the newest inter model, else the newest image model (all-intra). Without any shipped
    model only the anchors are measured; a named model that cannot be loaded is an error. Without
    ``overwrite`` an earlier run's reports in ``out`` are refused before any work; each file is written
    atomically. ``baselines``: the folder of an earlier evaluation of the same frames, whose all-intra and
    anchor curves are reused where nothing they depend on changed (:mod:`tngvideo.evaluation.baselines`).
    """
    out = out or Path("results") / f"eval_{clip.stem}"
    check_reports(out, REPORT_FILES, overwrite)
    source = open_video(clip)  # one open serves tngvideo and the anchors; an unreadable clip fails before model load
    digest = source_digest(source, max_frames)
    earlier = None if baselines is None else load_baselines(baselines, digest, environment())
    results: list[VideoResult] = []
    curve_settings: dict[str, str] = {}
    main_curve: str | None = None
    table_at: float | None = None
    try:
        choice = choose_video_models(model, gop)
    except ModelError as exc:
        if model is not None:
            raise
        print(f"tngvideo: no shipped model ({exc}); measuring the anchors only", file=sys.stderr)
    else:
        if choice.warning:
            warnings.warn(choice.warning, stacklevel=1)
        intra, inter = choice.models.intra, choice.models.inter
        levels = intra.codec.num_levels if inter is None else min(intra.codec.num_levels, inter.codec.num_levels)
        sweep = tuple(float(q) for q in (qualities or default_qualities(levels)))
        if any(not 1.0 <= q <= levels for q in sweep):
            raise UsageError(f"qualities must be between 1 and {levels}, got {', '.join(f'{q:g}' for q in sweep)}")
        table_at = table_quality(sweep)
        refinement = f", latent refinement {settings.refine_steps} steps" if settings.refine_steps else ""
        intra_models = VideoModels(intra, None)
        intra_description = (
            f"every frame an I-frame of image model {intra.name!r} (tngvideo encode --gop 1), "
            f"qualities {list(sweep)}{refinement}"
        )
        if earlier is not None and earlier.reusable(TNG_INTRA, intra_description) is not None:  # before the long part
            earlier.check_first_frames(TNG_INTRA, code_clip(source, intra_models, GopPolicy(1), sweep,
                                                            f"{TNG_INTRA} (frame 0, checked)", 1, settings=settings))
        if inter is not None:
            main_curve = TNG_CURVE
            gop_policy = GopPolicy(choice.gop, inter_quality_offset)
            results += code_clip(source, choice.models, gop_policy, sweep, TNG_CURVE, max_frames, settings=settings)
            curve_settings[TNG_CURVE] = (
                f"tngvideo encode/decode, GOP {choice.gop}: I-frames of image model {intra.name!r}, P-frames of "
                f"inter model {inter.name!r} (motion search {settings.motion_search_steps} steps"
                f"{', skipped blocks' if settings.skip_blocks else ''}); qualities "
                f"{list(sweep)}{refinement}; every decoded frame equals the encoder's reconstruction"
            )
        main_curve = main_curve or TNG_INTRA
        results += _measured_or_reused(
            TNG_INTRA, intra_description, earlier, curve_settings,
            lambda: code_clip(source, intra_models, GopPolicy(1), sweep, TNG_INTRA, max_frames, settings=settings),
        )
    for anchor in eval_anchors(gop):
        results += _measured_or_reused(
            anchor.name, anchor.describe(), earlier, curve_settings,
            partial(_anchor_results, source, anchor, max_frames),
        )
    curves = mean_per_setting(results)
    reference = eval_anchors(gop)[0].name
    report = RDReport(
        f"{clip.name}: tngvideo vs x264/x265, GOP {gop}", reference, curves, settings=curve_settings,
        environment=environment(), source_digest=digest,
    )
    save_report(report, out / "rd.json")
    plot_report(report, out / "rd.png")
    _save_frames(results, out / "frames")
    if main_curve is not None and table_at is not None:
        shown = next(r for r in results if r.codec == main_curve and r.setting == table_at)
        print(format_frame_table(shown))
        print(format_gop_summary(shown))
        print()
    print(format_points_table(curves))
    if main_curve is not None:
        print()
        print(format_bd_against(bd_of_test_against_each(curves, main_curve), main_curve))
    print(f"\nwrote {out}/rd.json, rd.png, frames.json, frames.csv")
    return report


def _anchor_results(source: VideoSource, anchor: VideoAnchor, max_frames: int | None) -> list[VideoResult]:
    return [encode_clip(source, anchor, crf, max_frames) for crf in DEFAULT_CRFS[anchor.encoder]]


def _measured_or_reused(
    name: str, description: str, earlier: Baselines | None, curve_settings: dict[str, str],
    measure: Callable[[], list[VideoResult]],
) -> list[VideoResult]:
    """The curve ``name``'s results: the earlier evaluation's if made with ``description``'s settings, else measured;
    its description (naming the report it was reused from) goes into ``curve_settings``."""
    reused = None if earlier is None else earlier.reusable(name, description)
    if earlier is None or reused is None:
        curve_settings[name] = description
        return measure()
    print(f"{name}: reused from {earlier.folder}", file=sys.stderr)
    curve_settings[name] = earlier.noted(description)
    return list(reused)


def format_frame_table(result: VideoResult) -> str:
    """One line per frame: index, type, bytes, bpp, PSNR, MS-SSIM."""
    pixels = result.width * result.height
    lines = [
        f"{result.codec} at quality {result.setting:g}, per frame:",
        f"{'frame':>6} {'type':>4} {'bytes':>8} {'bpp':>7} {'PSNR':>7} {'MS-SSIM':>8}",
    ]
    lines += [f"{r.index:6d} {r.pict_type:>4} {r.bits // 8:8d} {r.bits / pixels:7.4f} {r.psnr:7.3f} {r.msssim:8.5f}"
              for r in result.records]
    return "\n".join(lines)


def format_gop_summary(result: VideoResult) -> str:
    """I/P byte shares, P-frame size relative to its GOP's I-frame, and PSNR early vs late in the GOPs."""
    records = result.records
    total = sum(r.bits for r in records)
    intra = sum(r.bits for r in records if r.keyframe)
    counts = f"{sum(r.keyframe for r in records)} I, {sum(not r.keyframe for r in records)} P"
    parts = [f"{counts}; I {100 * intra / total:.0f}% / P {100 - 100 * intra / total:.0f}% of the bytes"]
    ratios: list[float] = []
    early: list[float] = []
    late: list[float] = []
    gop_intra_bits, position = 0, 0
    for r in records:
        if r.keyframe:
            gop_intra_bits, position = r.bits, 0
            continue
        position += 1
        ratios.append(r.bits / gop_intra_bits)
        if position <= 7:
            early.append(r.psnr)
        elif 25 <= position <= 31:
            late.append(r.psnr)
    if ratios:
        parts.append(f"P-frames average {100 * float(np.mean(ratios)):.1f}% of their GOP's I-frame bytes")
    if early and late:
        parts.append(f"mean PSNR of P-frames 1-7 {np.mean(early):.2f} dB, 25-31 {np.mean(late):.2f} dB")
    return "; ".join(parts)


def _save_frames(results: list[VideoResult], stem: Path) -> None:
    """Per-frame records of every run, as JSON and CSV."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stem.with_suffix(".json"), json.dumps([dataclasses.asdict(r) for r in results], indent=1) + "\n")
    rows = ["codec,setting,frame,type,bits,psnr,psnr_y,psnr_yuv,msssim"]
    for result in results:
        rows += [
            f"{result.codec},{result.setting:g},{f.index},{f.pict_type},{f.bits},{f.psnr:.4f},{f.psnr_y:.4f},"
            f"{f.psnr_yuv:.4f},{f.msssim:.6f}"
            for f in result.records
        ]
    write_text_atomic(stem.with_suffix(".csv"), "\n".join(rows) + "\n")


def measured_summary(report_path: Path) -> dict[str, object]:
    """What a model's manifest entry records of a ``tngvideo eval`` report: its title, tngvideo's per-quality
    points, and tngvideo's BD-rates against every other curve (None where the curves do not overlap)."""
    report = load_report(report_path)
    bd = bd_of_test_against_each(dict(report.curves), TNG_CURVE)
    return {
        "report": report_path.as_posix(), "title": report.title,
        "points": [{"quality": p.setting, "bpp": round(p.bpp, 4), "psnr": round(p.psnr, 3)}
                   for p in report.curves[TNG_CURVE].points],
        "bd_rate_percent_vs": {name: {"psnr": rounded_or_none(row.psnr), "msssim_db": rounded_or_none(row.msssim_db)}
                               for name, row in bd.items()},
    }

