"""Replace the measured numbers of a shipped model's manifest entry with new ``tngvideo eval`` reports.

    python scripts/update_measured.py tng-inter-v4 --measured results/eval_sample_s20/rd.json ...

For when the encoder's defaults change (its decoder and weights do not): the weight file and its sha256 stay as
they are, only the entry's ``measured`` list is rewritten, in the form ``scripts/export_inter_model.py`` writes.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from tngvideo.evaluation.video_eval import measured_summary
from tngvideo.paths import models_dir
from tngvideo.zoo import find_entry, write_manifest_entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a shipped model's name")
    parser.add_argument("--measured", type=Path, action="append", required=True, help="tngvideo eval report(s), rd.json")
    args = parser.parse_args()
    entry = find_entry(name=args.name, models_dir=models_dir())
    measured = [measured_summary(path) for path in args.measured]
    write_manifest_entry(dataclasses.replace(entry, details={**entry.details, "measured": measured}), models_dir())
    print(f"{entry.name}: measured numbers from {len(measured)} report(s)")


if __name__ == "__main__":
    main()
