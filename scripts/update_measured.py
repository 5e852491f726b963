"""Replace the measured numbers of a shipped model's manifest entry with new ``tngvideo eval`` reports.

    python scripts/update_measured.py tng-inter-v4 --measured results/eval_sample_s20/rd.json ...
    python scripts/update_measured.py tng-inter-v6 --add --measured results/eval_davis_bear_s30/rd.json

For when the encoder's defaults change (its decoder and weights do not): the weight file and its sha256 stay as
they are, only the entry's ``measured`` list is rewritten, in the form ``scripts/export_inter_model.py`` writes.
With ``--add``, clips measured for the first time (or again) join the list; the others' numbers stay.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from tngvideo.evaluation.video_eval import measured_summary
from tngvideo.paths import models_dir
from tngvideo.zoo import find_entry, write_manifest_entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a shipped model's name")
    parser.add_argument("--measured", type=Path, action="append", required=True, help="tngvideo eval report(s), rd.json")
    parser.add_argument("--add", action="store_true",
                        help="keep the entry's reports of other clips (a report of the same title is replaced)")
    args = parser.parse_args()
    entry = find_entry(name=args.name, models_dir=models_dir())
    measured = [measured_summary(path) for path in args.measured]
    if args.add:
        measured = added(entry.details.get("measured", []), measured)
    write_manifest_entry(dataclasses.replace(entry, details={**entry.details, "measured": measured}), models_dir())
    print(f"{entry.name}: measured numbers from {len(measured)} report(s)")


def added(recorded: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``recorded`` with ``new`` in place of the reports of the same title (clip and GOP), the rest appended."""
    by_title = {report["title"]: report for report in new}
    merged = [by_title.pop(report["title"], report) for report in recorded]
    return merged + list(by_title.values())


if __name__ == "__main__":
    main()
