"""Reusing an earlier ``tngvideo eval``'s baseline curves (all-intra tngvideo, x264, x265) on the same frames.

Only the ``tngvideo`` curve depends on the P-frame model, yet all-intra and the anchors take about a third of an
evaluation's time (sam2_bedroom: ~20 of ~65 CPU-minutes), and every new P-frame model is measured on every eval
clip again. ``tngvideo eval --baselines DIR`` takes those curves from DIR's reports when nothing they depend on
changed, and measures them otherwise:

- the same frames: the reports' source digest (:func:`source_digest`, the sha256 of the measured pixels);
- the same machine and libraries (:func:`rd.environment`, all but the kernel's version): the anchors' sliced threads
  follow the CPU count, the image codec's bfloat16 tiles may differ in the last bit across CPU types;
- the same settings: each curve's description (GOP, model, qualities, encoder options) as this run would write it;
- the same image codec code: all-intra's first frame is coded again at every quality and must match bit for bit.

A reused curve's description in the new report names the report it came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from tngvideo.anchors.video import FrameRecord, VideoResult
from tngvideo.errors import InputError, UsageError
from tngvideo.evaluation.rd import load_report
from tngvideo.io.frames import VideoSource

REUSED_FROM = " [reused from "  # how a reused curve's description names its report
MACHINE_NEUTRAL = ("platform",)  # environment entries that do not change a measured number (the kernel's version)


def source_digest(source: VideoSource, max_frames: int | None) -> str:
    """sha256 of the pixels (and shapes) of the frames an evaluation measures: two reports with the same digest
    measured the same frames."""
    digest = hashlib.sha256()
    for frame in islice(source.frames(), max_frames):
        digest.update(repr(frame.shape).encode())
        digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Baselines:
    """The curves of an earlier evaluation of the same frames on the same machine, by curve name."""

    folder: Path
    results: Mapping[str, tuple[VideoResult, ...]]
    settings: Mapping[str, str]

    def reusable(self, curve: str, description: str) -> tuple[VideoResult, ...] | None:
        """The earlier results of ``curve`` if they were made with exactly ``description``'s settings, else None."""
        earlier = self.settings.get(curve)
        if earlier is None or earlier.split(REUSED_FROM)[0] != description:
            return None
        return self.results.get(curve)

    def noted(self, description: str) -> str:
        """A reused curve's description: the settings, and the report the numbers come from."""
        return f"{description}{REUSED_FROM}{(self.folder / 'rd.json').as_posix()}]"

    def check_first_frames(self, curve: str, first_frames: Sequence[VideoResult]) -> None:
        """UsageError unless ``first_frames`` (the clip's first frame coded again at each quality) match the reused
        curve's first frames bit for bit: the code that made the curve still makes the same frames."""
        earlier = {result.setting: result.records[0] for result in self.results[curve]}
        for result in first_frames:
            now, then = result.records[0], earlier.get(result.setting)
            if then is None or (now.bits, now.psnr) != (then.bits, then.psnr):
                was = "not measured" if then is None else f"{then.bits} bits at {then.psnr:.4f} dB"
                raise UsageError(
                    f"{self.folder}: {curve} at quality {result.setting:g} coded frame 0 as {was}, this code as "
                    f"{now.bits} bits at {now.psnr:.4f} dB; measure it again (without --baselines)"
                )


def load_baselines(folder: Path, digest: str, environment: Mapping[str, str]) -> Baselines:
    """The curves of the ``tngvideo eval`` reports in ``folder``; InputError if there are none, UsageError if they
    were measured on other frames or another machine (see the module docstring)."""
    try:
        report = load_report(folder / "rd.json")
        raw = json.loads((folder / "frames.json").read_text())
        results = [_result_from_json(item) for item in raw]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{folder}: no tngvideo eval reports to reuse ({type(exc).__name__}: {exc})") from exc
    if report.source_digest != digest:
        reason = "other frames" if report.source_digest else "frames it did not record (an older report)"
        raise UsageError(f"{folder}: its curves were measured on {reason}, not on these")
    changed = [
        f"{key} {report.environment.get(key)!r} there, {environment.get(key)!r} here"
        for key in sorted(set(report.environment) | set(environment))
        if key not in MACHINE_NEUTRAL and report.environment.get(key) != environment.get(key)
    ]
    if changed:
        raise UsageError(f"{folder}: measured on another machine or with other libraries ({'; '.join(changed)})")
    grouped: dict[str, list[VideoResult]] = {}
    for result in results:
        grouped.setdefault(result.codec, []).append(result)
    return Baselines(folder, {name: tuple(items) for name, items in grouped.items()}, dict(report.settings))


def _result_from_json(item: Mapping[str, object]) -> VideoResult:
    fields = dict(item)
    records = fields.pop("records")
    if not isinstance(records, list):
        raise TypeError(f"records of {fields.get('codec')!r} are not a list")
    return VideoResult(**fields, records=tuple(FrameRecord(**record) for record in records))  # type: ignore[arg-type]
