"""Stop shipping a model: delete its weight file from ``models/``, keep its id reserved in the manifest.

    python scripts/retire_model.py tng-image-v4 --commit <the last commit whose models/ hold it>

The weights budget (40 MB in all) holds about two image models. Files made with a retired model
then fail with a one-line error naming ``--commit``, the last commit that ships it, so they can
still be decoded with that checkout. Commit the deletion and the manifest together.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tngvideo.zoo import retire_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the manifest name of the model, e.g. tng-image-v3")
    parser.add_argument("--commit", required=True, help="the last commit whose models/ ship it")
    parser.add_argument("--models", type=Path, default=None, help="default: the repository's models/")
    args = parser.parse_args()
    retired = retire_model(args.name, args.commit, args.models)
    print(f"retired {retired.name} (id {retired.model_id}); its files decode with commit {retired.last_shipped_commit}")


if __name__ == "__main__":
    main()
