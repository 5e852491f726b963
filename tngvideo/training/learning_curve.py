"""Learning curves across training runs: probe results against cumulative steps and hours (the probe
ran on Kodak up to tng-image-v11, on the validation set held out of training since).

A shipped model is usually the end of a lineage of runs (each fine-tuned from the last one's
weights); its learning curve is the concatenation of their logs, each cut where the next run
took over (``run_records``, the one reader of the log format). The image curves count wall-clock
training time summed between consecutive log lines of one process, so restarts and pauses between
sessions do not count; the P-frame curves (``cpu_hours_curve``, ``scripts/video_learning_curve.py``) count
the CPU-hours their eval records carry. Run logs do not outlive the machine
they were written on, so a lineage can also continue the curve of an earlier model (its JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

# Log lines after which training time runs (a process has its data in RAM and begins its first step): the
# time since the line before is not training time. Logs written before session 33 began a fresh process with
# "init" (whose time does not count either) and started training at "data".
_TRAINING_STARTS = {"start", "resume", "data"}
_LEGACY_PROCESS_START = "init"


@dataclass(frozen=True)
class RunSegment:
    """The part of one run's log that belongs to a lineage."""

    log: Path
    first_step: int  # lineage steps the run's starting weights had already seen
    last_step: int | None = None  # the run's own last step used by the lineage (None: all)


def split_segment_words(words: Sequence[str], names: int, steps: range) -> tuple[list[str], list[int]]:
    """A curve script's ``--run``/``--stage`` words: ``names`` words, then a count in ``steps`` of step numbers.

    Raises ValueError on any other shape, so that the script can print its usage instead of a traceback.
    """
    head, tail = list(words[:names]), list(words[names:])
    if len(head) < names or len(tail) not in steps or not all(word.isdigit() for word in tail):
        raise ValueError(f"expected {names} names and {steps.start}-{steps.stop - 1} step numbers, got {list(words)}")
    return head, [int(word) for word in tail]


def run_records(log: Path, last_step: int | None = None) -> Iterator[dict[str, Any]]:
    """The records of a run log, in order, up to ``last_step`` (None: all): the part a lineage used."""
    for line in log.read_text().splitlines():
        record = json.loads(line)
        step = record.get("step")
        if last_step is not None and isinstance(step, int) and step > last_step:
            return
        yield record


def lineage_curve(segments: list[RunSegment], earlier: Sequence[dict[str, object]] = ()) -> list[dict[str, object]]:
    """Probe results of the lineage, each with its lineage ``step`` and training ``hours``.

    ``earlier`` is the curve of the lineage before the first segment (its last point closes it).
    """
    curve: list[dict[str, object]] = list(earlier)
    hours_before = float(cast(float, earlier[-1]["hours"])) if earlier else 0.0
    for segment in segments:
        seconds = 0.0
        previous_time: float | None = None
        for record in run_records(segment.log, segment.last_step):
            if record["event"] == _LEGACY_PROCESS_START:
                previous_time = None
                continue
            if record["event"] in _TRAINING_STARTS:
                previous_time = record["time"]
                continue
            if previous_time is not None:
                seconds += record["time"] - previous_time
            previous_time = record["time"]
            if record["event"] == "eval":
                fields = {k: _finite_or_none(v) for k, v in record.items() if k not in ("time", "event", "step", "train_seconds")}
                curve.append({"step": segment.first_step + record["step"], "hours": round(hours_before + seconds / 3600, 3), **fields})
        hours_before += seconds / 3600
    return curve


def cpu_hours_curve(stage: str, log: Path, hours_before: float,
                    last_step: int | None = None) -> tuple[list[dict[str, object]], float]:
    """A P-frame stage's validation records up to ``last_step`` (None: all), each with the lineage's cumulative
    ``cpu_hours`` (the process CPU time its eval records carry, after ``hours_before``), and the hours at its end."""
    records = []
    last = 0.0
    for record in run_records(log, last_step):
        if record.get("event") == "eval":
            last = float(record["cpu_hours"])
            fields = {k: v for k, v in record.items() if k not in ("time", "event", "cpu_hours")}
            records.append({"stage": stage, "cpu_hours": round(hours_before + last, 3), **fields})
    return records, hours_before + last


def _finite_or_none(value: object) -> object:
    """NaN (e.g. a BD-rate without overlap) becomes null, so the curve stays strict JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value
