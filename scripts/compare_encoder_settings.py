"""Encoder settings, or P-frame weights, against the first one given, on held-out training clips: BD-rate per
clip and mean, as JSON.

    python scripts/compare_encoder_settings.py --p-offset 0 0.5 1 1.5 --frames 32 --out results/gop_qualities.json
    python scripts/compare_encoder_settings.py --motion-search 0 8 16 --frames 16 --out results/motion_search.json
    python scripts/compare_encoder_settings.py --refine 0 10 --frames 16 --out results/refine.json
    python scripts/compare_encoder_settings.py --weights runs/joint-j/best.safetensors --frames 16 --out results/j.json
    python scripts/compare_encoder_settings.py --weights runs/off-a/best.safetensors --p-offset 0 1 --frames 16 \\
        --out results/off.json
    python scripts/compare_encoder_settings.py --format-version 6 7 --frames 16 --out results/format_7.json
    python scripts/compare_encoder_settings.py --combine results/a.json results/b.json --out results/a_b.json

One setting varies per run: the P-frames' quality offset (``GopPolicy.inter_quality_offset``), the
encoder's motion search steps, its distortion weight or its candidate rounds (``codecs.motion_search``), latent refinement steps
(``codecs.latent_refinement``), block skipping (``codecs.block_skip``), the .tngv format version written (from the
compact version 6 on: what a format change gains), or the P-frame weights (training checkpoints
against the shipped ``--model`` at the defaults, each coded as it would be once shipped: written in the shipped
format to a scratch models folder and loaded from it; with a varied option too, each checkpoint at each of its
values, for weights trained for another setting); the others stay at their defaults. This decides whether a
run's weights ship: the validation crops of training have misled by several points (docs/training.md,
sessions 16-17). The clips are
the P-frame training's validation clips (``training.video_data.VALIDATION_CLIPS``), never ``video/eval``,
so defaults chosen from this stay clean of the evaluation set. Each coding runs the real encoder and
decoder (``evaluation.video_eval.code_clip``) at GOP 32. Settings are coded one after another; to use both cores,
run one process per clip or per setting (``OMP_NUM_THREADS=1``) and ``--combine`` their reports (a setting's curve
at one thread does not depend on what else ran): per clip, the curves of every report that coded it are joined.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tngvideo.bitstream import COMPACT_FRAME_VERSION, VIDEO_FORMAT_VERSION
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.evaluation.rd import RDCurve, RDPoint, bd_table, environment, mean_per_setting
from tngvideo.evaluation.video_eval import code_clip
from tngvideo.io.frames import open_video
from tngvideo.paths import data_root, models_dir
from tngvideo.tng_image import IMAGE_KIND
from tngvideo.tng_inter import (
    VideoModels,
    choose_video_models,
    inter_codec_of_checkpoint,
    load_video_models,
    ship_inter_codec,
)
from tngvideo.video_coder import DEFAULT_GOP, DEFAULT_INTER_QUALITY_OFFSET, GopPolicy
from tngvideo.zoo import (
    find_entry,
    write_manifest_entry,
)

CLIPS = ("cotracker_cat", "davis_paragliding")  # validation clips with enough frames for a GOP (video_data)


def checkpoint_models(checkpoint: Path, shipped: VideoModels, scratch: Path, model_id: int) -> VideoModels:
    """A P-frame training checkpoint as it would code once shipped (int8 entropy convolutions, baked tables), with
    the shipped models' intra model: exported to the models folder ``scratch`` and loaded from it."""
    intra = find_entry(name=shipped.intra.name, kind=IMAGE_KIND)
    if not (scratch / intra.file).exists():
        (scratch / intra.file).symlink_to((models_dir() / intra.file).resolve())
        write_manifest_entry(intra, scratch)
    entry = ship_inter_codec(inter_codec_of_checkpoint(checkpoint), f"candidate-{model_id}", model_id, intra.name,
                             scratch)
    return load_video_models(entry.name, scratch)


@dataclass(frozen=True)
class Setting:
    """One way to code the clips: the models, the GOP policy, the encoder's effort and the format version written."""

    models: VideoModels
    policy: GopPolicy
    effort: EncoderSettings
    version: int


@dataclass(frozen=True)
class VariedOption:
    """A command-line option whose values are the settings compared: its label in the report, and what a value
    changes from the defaults (the shipped models are filled in later)."""

    flag: str
    type: Callable[[str], Any]
    help: str
    label: str
    setting: Callable[[Any], tuple[GopPolicy, EncoderSettings, int]]
    metavar: str | None = None
    choices: tuple[int, ...] | None = None


DEFAULT_POLICY = GopPolicy(DEFAULT_GOP, DEFAULT_INTER_QUALITY_OFFSET)


def _effort(field: str) -> Callable[[Any], tuple[GopPolicy, EncoderSettings, int]]:
    """One field of ``EncoderSettings`` set to the value, everything else at its default."""
    return lambda value: (DEFAULT_POLICY, EncoderSettings(**{field: value}), VIDEO_FORMAT_VERSION)


VARIED_OPTIONS = (
    VariedOption("--p-offset", float, "P-frame quality offsets to compare", "p-offset",
                 lambda offset: (GopPolicy(DEFAULT_GOP, offset), EncoderSettings(), VIDEO_FORMAT_VERSION), "D"),
    VariedOption("--motion-search", int, "motion search steps to compare", "motion-search",
                 _effort("motion_search_steps"), "N"),
    VariedOption("--refine", int, "latent refinement steps to compare", "refine", _effort("refine_steps"), "N"),
    VariedOption("--motion-weight", float, "the motion search's distortion weights (in units of λ) to compare",
                 "motion-weight", _effort("motion_weight"), "W"),
    VariedOption("--motion-candidates", int,
                 "rounds of neighbours' vectors tried per block before the motion search's steps",
                 "motion-candidates", _effort("motion_candidates"), "R"),
    VariedOption("--skip-blocks", int, "P-frame block skipping off/on", "skip-blocks",
                 lambda on: (DEFAULT_POLICY, EncoderSettings(skip_blocks=bool(on)), VIDEO_FORMAT_VERSION),
                 choices=(0, 1)),
    VariedOption("--format-version", int,
                 f".tngv format versions to compare ({COMPACT_FRAME_VERSION}..{VIDEO_FORMAT_VERSION})", "format",
                 lambda version: (DEFAULT_POLICY, EncoderSettings(), version), "V"),
)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one varied option, --weights (with or without one varied option) or --combine, and what to
    code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    varied = parser.add_mutually_exclusive_group()
    for option in VARIED_OPTIONS:
        varied.add_argument(option.flag, type=option.type, nargs="+", metavar=option.metavar, choices=option.choices,
                            help=option.help)
    varied.add_argument("--combine", type=Path, nargs="+", metavar="REPORT",
                        help="no coding: one report from earlier ones' curves, against the first one's first setting")
    parser.add_argument("--weights", type=Path, nargs="+", metavar="CHECKPOINT",
                        help="P-frame training checkpoints to compare with the shipped --model (at the defaults), each "
                        "at every value of a varied option given too")
    parser.add_argument("--checkpoints-only", action="store_true",
                        help="with --weights: leave out the shipped model (its curve from another report, --combine)")
    parser.add_argument("--qualities", type=float, nargs="+", default=[2.0, 4.0, 6.0, 8.0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.weights is None and _varied(args) is None and args.combine is None:
        parser.error("give one varied option, --weights or --combine")
    if args.weights is not None and args.combine is not None:
        parser.error("--combine codes nothing: it takes no --weights")
    if args.combine is not None:
        combine_reports(args.combine, args.out)
        return
    if args.format_version is not None and not all(
            COMPACT_FRAME_VERSION <= v <= VIDEO_FORMAT_VERSION for v in args.format_version):
        parser.error(f"format versions are compared from {COMPACT_FRAME_VERSION} to {VIDEO_FORMAT_VERSION}")
    shipped = choose_video_models(args.model, DEFAULT_GOP).models
    with tempfile.TemporaryDirectory(prefix="tngvideo-candidates-") as scratch:  # loaded, the files are not read again
        settings = settings_to_compare(args, shipped, Path(scratch))
    curves_per_clip = {}
    for clip in args.clips:
        results = []
        for name, setting in settings.items():
            results += code_clip(open_video(data_root() / "video/train" / clip), setting.models, setting.policy,
                                 args.qualities, name, args.frames, settings=setting.effort, version=setting.version)
        curves_per_clip[clip] = mean_per_setting(results)
        print(clip, json.dumps(_rounded(bd_rates(curves_per_clip[clip], next(iter(settings))))), flush=True)
    write_report({"model": args.model, "frames": args.frames, "qualities": args.qualities}, curves_per_clip, args.out)


def settings_to_compare(args: argparse.Namespace, shipped: VideoModels, scratch: Path) -> dict[str, Setting]:
    """The settings named on the command line, by their label in the report: the values of the one varied option
    with the shipped models; or the shipped P-frame model at the defaults and the training checkpoints (exported to
    ``scratch``), each at the defaults or at every value of the varied option."""
    varied = _varied(args)
    if args.weights is None:
        assert varied is not None  # main() checked
        option, values = varied
        return {f"{option.label} {value:g}": Setting(shipped, *option.setting(value)) for value in values}
    assert shipped.inter is not None  # choose_video_models at GOP 32 gives P-frames
    plain = (DEFAULT_POLICY, EncoderSettings(), VIDEO_FORMAT_VERSION)
    settings = {} if args.checkpoints_only else {shipped.inter.name: Setting(shipped, *plain)}
    for i, path in enumerate(args.weights):
        models = checkpoint_models(path, shipped, scratch, 60000 + i)
        name = f"{path.parent.name}-{path.stem}"
        if varied is None:
            settings[name] = Setting(models, *plain)
        else:
            option, values = varied
            settings.update({f"{name} {option.label} {value:g}": Setting(models, *option.setting(value))
                             for value in values})
    return settings


def _varied(args: argparse.Namespace) -> tuple[VariedOption, list[Any]] | None:
    """The varied option given on the command line (the parser allows one) and its values; None without one."""
    for option in VARIED_OPTIONS:
        values = getattr(args, option.flag.removeprefix("--").replace("-", "_"))
        if values:
            return option, values
    return None


def bd_rates(curves: dict[str, RDCurve], baseline: str) -> dict[str, float]:
    """BD-rate (PSNR) of every curve against ``baseline``'s, in percent."""
    return {name: bd.psnr for name, bd in bd_table(curves, baseline).items()}


def _rounded(rates: dict[str, float]) -> dict[str, float]:
    return {name: round(rate, 2) for name, rate in rates.items()}


def write_report(about: dict[str, object], curves_per_clip: dict[str, dict[str, RDCurve]], out: Path) -> None:
    """The JSON report: per clip every setting's curve and BD-rate against the first setting, and the means."""
    rates = {clip: bd_rates(curves, next(iter(curves))) for clip, curves in curves_per_clip.items()}
    clips = {clip: {"bd_rate_psnr_percent": _rounded(rates[clip]),
                    "curves": {name: [vars(p) for p in curve.points] for name, curve in curves.items()}}
             for clip, curves in curves_per_clip.items()}
    names = next(iter(curves_per_clip.values())).keys()
    mean = {name: round(float(np.mean([clip_rates[name] for clip_rates in rates.values()])), 2) for name in names}
    report = {**about, "clips": clips, "mean_bd_rate_psnr_percent": mean, "environment": environment()}
    print(json.dumps(mean))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


def combine_reports(paths: list[Path], out: Path) -> None:
    """One report from the curves of several (e.g. one process per clip and setting at one thread): per clip the
    settings of every report that coded it, each against the reports' first setting; a setting named again for a clip
    (coded by another version of the code) is named with its report's file name too. Clips without every setting are
    left out (and said so)."""
    reports = [json.loads(path.read_text()) for path in paths]
    about = {key: reports[0][key] for key in ("frames", "qualities")}  # the shipped --model may differ: it is compared
    for path, report in zip(paths, reports, strict=True):
        if {key: report[key] for key in about} != about:
            raise SystemExit(f"{path}: coded with other frames or qualities than {paths[0]}")
    joined: dict[str, dict[str, RDCurve]] = {}
    for path, report in zip(paths, reports, strict=True):
        for clip, entry in report["clips"].items():
            curves = joined.setdefault(clip, {})
            for name, points in entry["curves"].items():
                unique = f"{name} ({path.stem})" if name in curves else name  # the same setting coded again
                curves[unique] = RDCurve(unique, tuple(RDPoint(**point) for point in points))
    settings = list(dict.fromkeys(name for curves in joined.values() for name in curves))
    curves_per_clip = {clip: {name: curves[name] for name in settings}  # every clip against the same first setting
                       for clip, curves in joined.items() if set(curves) == set(settings)}
    for clip in sorted(joined.keys() - curves_per_clip.keys()):
        print(f"left out {clip}: it lacks {sorted(set(settings) - set(joined[clip]))}")
    if not curves_per_clip:
        raise SystemExit("no clip has every setting of the reports")
    models = [report["model"] for report in reports]
    write_report({"model": models, **about, "combined": [str(path) for path in paths]}, curves_per_clip, out)

if __name__ == "__main__":
    main()
