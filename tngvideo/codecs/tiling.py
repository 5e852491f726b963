"""How the float transforms that make pixels are run: whole, or in overlapping tiles in parallel.

A decoder must reproduce the encoder's reconstruction bit for bit, and float convolutions give
different bits for different thread counts (and, with oneDNN off, still differed by 1e-6 between 1
and 2 threads on one CPU). So every transform whose output becomes pixels runs under a
:class:`Reconstruction` rule, which the bitstream's format version names:

- :data:`WHOLE_PICTURE` (format versions 1 and 2): the whole picture on one thread, oneDNN off.
  Memory grows with the picture (~1 GB per megapixel) and one core idles.
- :data:`TILES` (version 3): the latent grid is cut into tiles of at most ``tile`` x ``tile`` latents
  (16 px each), every tile is computed on its cut-out region widened by ``margin`` latents on each side
  (clipped at the picture's border), and only its own part of the output is kept::

        ┌────────────┬────────────┐      each tile's input: its core ▒ + margin ░,
        │░░░░░░░░░░░░░░░░░░      │      computed with ONE intra-op thread (oneDNN on),
        │░▒▒▒▒▒▒▒▒▒▒▒▒░░░        │      tiles in parallel over the machine's cores;
        │░▒▒▒▒▒▒▒▒▒▒▒▒░░░        │      the output keeps the core only
        │░░░░░░░░░░░░░░░░░░      │
        └────────────┴────────────┘

  A tile's floats then depend only on its inputs and the tiling, which depends only on the picture's
  size, never on how many threads or workers ran it. Memory is bounded by the tile, and both cores
  work. The margin covers the transforms' effective receptive field, so seams do not show.
- :data:`TILES_BF16` (version 4, written by this build): the same tiles, the convolutions in bfloat16
  (autocast: bfloat16 inputs and weights, float32 sums, each tile's output widened back to float32).
  With AMX or AVX-512 BF16 the transforms run ~3x faster than in float32, and the reconstruction moves
  by rounding noise far below the coding error (~60 dB). On a CPU without bfloat16 convolutions
  (:func:`bfloat16_convolutions`) the rule runs them in float32 instead: as fast as version 3, and its
  pixels may differ from a bfloat16 machine's, as pixels may across CPU types anyway (docs/bitstream.md).

The rule applies to the transforms alone. The entropy models' parameters come from integers
(:mod:`tngvideo.entropy.fixed_point`) on the whole latent grid, which is small (1/256 of the pixels).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

LATENT_PIXELS = 16  # pixels per latent along each side: the unit tiles are measured in
_WORKERS: contextvars.ContextVar[int] = contextvars.ContextVar("tile_workers", default=1)


@dataclass(frozen=True)
class TileSpan:
    """One tile along one axis, in latents: the part it keeps [start, stop) and the part it reads
    [read_start, read_stop) (the kept part plus the margin, clipped to the grid)."""

    start: int
    stop: int
    read_start: int
    read_stop: int


@dataclass(frozen=True)
class ScaledInput:
    """An input of a tiled transform and how many of its samples span one latent (16 for pixels, 1 for latents)."""

    tensor: torch.Tensor
    scale: int


@dataclass(frozen=True)
class Reconstruction:
    """A rule for running pixel-making transforms (see module docstring); part of the bitstream contract."""

    name: str
    tile: int | None  # the largest tile side in latents; None: the whole picture at once
    margin: int  # latents of context read on each side of a tile
    onednn: bool
    channels_last: bool = False  # the inputs' memory layout (17% faster with oneDNN; other float sums)
    bfloat16: bool = False  # convolutions in bfloat16 (autocast; float32 sums), ~3x faster with AMX

    def spans(self, length: int) -> list[TileSpan]:
        """The tiles along an axis of ``length`` latents: as few as fit ``tile``, of near-equal size.

        A picture that fits one tile is still cut in two along its longer axis when that axis is long
        enough (:meth:`tiles`), so that small frames use two cores too."""
        count = 1 if self.tile is None else math.ceil(length / self.tile)
        return self._even_spans(length, count)

    def tiles(self, rows: int, columns: int) -> list[tuple[TileSpan, TileSpan]]:
        """Every (row span, column span) of a ``rows`` x ``columns`` latent grid, row-major."""
        row_spans, column_spans = self.spans(rows), self.spans(columns)
        if self.tile is not None and len(row_spans) * len(column_spans) == 1 and max(rows, columns) >= 4 * self.margin:
            if columns >= rows:
                column_spans = self._even_spans(columns, 2)
            else:
                row_spans = self._even_spans(rows, 2)
        return [(r, c) for r in row_spans for c in column_spans]

    def _even_spans(self, length: int, count: int) -> list[TileSpan]:
        edges = [length * i // count for i in range(count + 1)]
        return [TileSpan(a, b, max(0, a - self.margin), min(length, b + self.margin)) for a, b in itertools.pairwise(edges)]

    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """No autograd, one intra-op thread and this rule's oneDNN setting, for the duration."""
        previous_onednn, previous_threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
        torch.backends.mkldnn.enabled = self.onednn  # type: ignore[assignment]  # a module-level flag
        torch.set_num_threads(1)
        workers = _WORKERS.set(max(1, previous_threads))  # the threads the caller had become tile workers
        try:
            with torch.no_grad():
                yield
        finally:
            _WORKERS.reset(workers)
            torch.backends.mkldnn.enabled = previous_onednn  # type: ignore[assignment]
            torch.set_num_threads(previous_threads)

    def run(self, transform: Callable[..., torch.Tensor], inputs: Sequence[ScaledInput], output_scale: int,
            workers: int | None = None) -> torch.Tensor:
        """``transform(*inputs)`` under this rule; ``output_scale`` is the output's samples per latent.

        Call inside :meth:`inference`. The inputs' spatial sizes must be their scale times one latent grid
        (pictures padded to whole latents). ``workers`` (default: the intra-op threads the caller had before
        :meth:`inference`) changes the speed, never the result."""
        rows, columns = _latent_grid(inputs)
        tiles = self.tiles(rows, columns)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        bfloat16 = self.bfloat16 and bfloat16_convolutions()

        def compute(tile: tuple[TileSpan, TileSpan]) -> torch.Tensor:
            torch.set_num_threads(1)  # a worker thread's own OpenMP setting
            row, column = tile
            crops = [i.tensor[..., row.read_start * i.scale : row.read_stop * i.scale,
                              column.read_start * i.scale : column.read_stop * i.scale] for i in inputs]
            # grad mode and autocast are per thread: without no_grad a worker would keep every activation
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                output = transform(*(crop.contiguous(memory_format=layout) for crop in crops)).float()
            top, left = (row.start - row.read_start) * output_scale, (column.start - column.read_start) * output_scale
            return output[..., top : top + (row.stop - row.start) * output_scale,
                          left : left + (column.stop - column.start) * output_scale]

        if len(tiles) == 1:
            return compute(tiles[0]).contiguous()
        pool_size = min(len(tiles), workers or _WORKERS.get())
        with ThreadPoolExecutor(max_workers=pool_size) as pool:
            parts = list(pool.map(compute, tiles))
        output = parts[0].new_empty((*parts[0].shape[:-2], rows * output_scale, columns * output_scale))
        for (row, column), part in zip(tiles, parts, strict=True):
            output[..., row.start * output_scale : row.stop * output_scale,
                   column.start * output_scale : column.stop * output_scale] = part
        return output


@functools.cache
def bfloat16_convolutions() -> bool:
    """Whether this CPU has fast bfloat16 convolutions (oneDNN's check: AVX-512 BF16, AMX, or AVX2-VNNI-2)."""
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _latent_grid(inputs: Sequence[ScaledInput]) -> tuple[int, int]:
    grids = {(i.tensor.shape[-2] // i.scale, i.tensor.shape[-1] // i.scale) for i in inputs}
    if len(grids) != 1 or any(i.tensor.shape[-2] % i.scale or i.tensor.shape[-1] % i.scale for i in inputs):
        raise ValueError(f"inputs do not share one latent grid: {[tuple(i.tensor.shape) for i in inputs]}")
    return grids.pop()


WHOLE_PICTURE = Reconstruction("whole picture, oneDNN off", tile=None, margin=0, onednn=False)
TILES = Reconstruction("tiles of 32 latents, margin 3, oneDNN on, channels-last", tile=32, margin=3, onednn=True,
                       channels_last=True)
TILES_BF16 = Reconstruction("tiles of 32 latents, margin 3, oneDNN on, channels-last, bfloat16", tile=32, margin=3,
                            onednn=True, channels_last=True, bfloat16=True)
