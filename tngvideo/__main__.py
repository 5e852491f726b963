"""``python -m tngvideo``: the same as the ``tngvideo`` command."""

from tngvideo.cli import console_main

console_main()
