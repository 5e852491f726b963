"""Where tngvideo finds shared data and its shipped weights."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV_VAR = "TNGVIDEO_DATA"
MODELS_ENV_VAR = "TNGVIDEO_MODELS"


def data_root() -> Path:
    """The shared data folder: ``$TNGVIDEO_DATA`` if set, else ``../shared/data`` beside the repository."""
    override = os.environ.get(DATA_ENV_VAR)
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """``--data``, a script's shared data root (:func:`data_root_of` reads it back)."""
    parser.add_argument("--data", type=Path, default=None, help="shared data root (default: $TNGVIDEO_DATA or ../shared/data)")


def data_root_of(args: argparse.Namespace) -> Path:
    """The ``--data`` of :func:`add_data_argument`, else :func:`data_root`."""
    return args.data or data_root()


def models_dir() -> Path:
    """Folder of weight files and ``manifest.json``: ``$TNGVIDEO_MODELS`` if set, else the repository's ``models/``."""
    override = os.environ.get(MODELS_ENV_VAR)
    return Path(override) if override else REPO_ROOT / "models"
