"""The ``tngvideo`` command: one entry point, subcommands, ``main(argv) -> exit code``.

Every failure a user can cause is one typed error (:mod:`tngvideo.errors`), printed as one line on
stderr, with that error's exit code (2 usage, 3 input, 4 bitstream, 5 model, 6 output; 130 SIGINT,
143 SIGTERM; 1 is a bug). ``--debug`` adds the traceback. Warnings are one line each. Outputs appear
complete or not at all (:mod:`tngvideo.io.atomic`). Heavy imports happen inside commands so
``tngvideo --help`` is instant.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from tngvideo.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BitstreamError,
    InputError,
    ModelError,
    OutputError,
    Terminated,
    TngError,
    UsageError,
)

EXIT_USAGE = UsageError.exit_code
EXIT_INPUT = InputError.exit_code
EXIT_BITSTREAM = BitstreamError.exit_code
EXIT_MODEL = ModelError.exit_code
EXIT_OUTPUT = OutputError.exit_code
EXIT_TERMINATED = Terminated.exit_code
__all__ = ["EXIT_BITSTREAM", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_MODEL", "EXIT_OK", "EXIT_OUTPUT",
           "EXIT_TERMINATED", "EXIT_USAGE", "build_parser", "console_main", "main"]
PROG = "tngvideo"
DEFAULT_QUALITY = 6.0
QUALITY_HELP = f"1 (smallest) .. the model's number of levels (best), fractional allowed (default {DEFAULT_QUALITY:g})"
EVAL_FRAMES = 96  # the first 96 frames, as the video acceptance measures
GOP_HELP = (
    "an I-frame every N frames, P-frames between (default 32; 1: all-intra, which needs no inter model; "
    "without an inter model every frame is an I-frame, with a warning)"
)
P_OFFSET_HELP = ("P-frames at the I-frame's quality minus D (default: tngvideo.video_coder.DEFAULT_INTER_QUALITY_OFFSET, "
                 "chosen on held-out clips)")
VIDEO_MODEL_HELP = (
    "shipped inter model name (its intra model comes with it), or an image model name for all-intra "
    "(default: the newest inter model)"
)
MOTION_SEARCH_HELP = (
    "encoder-side motion search: N gradient steps per P-frame on its block motion vectors (default 32, the step "
    "falling from 0.8 to 0.05 px: BD-rate -2 to -8%% against 16 on held-out clips, ~0.12 s a 352x288 frame; "
    "16: -24%% against 0; 8: -21%%, faster); any decoder reads the files"
)
SKIP_BLOCKS_HELP = (
    "encoder-side skip decisions: code a P-frame block as its prediction where that costs less over the GOP "
    "(default off: with frames padded to 16 pixels it costs BD-rate +1.7%% on held-out clips, and ~0.24 s more a "
    "352x288 frame); any decoder reads the files"
)
REFINE_HELP = (
    "encoder-side latent refinement: N gradient steps per picture, I- and P-frames alike (photos, 15 steps: ~5%% "
    "fewer bits at the same PSNR, ~11 s more per 768x512 picture); any decoder reads the files (default 0: off)"
)


def _one_line_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """One line on stderr, on its own line even while a progress bar is drawn."""
    from tqdm import tqdm

    lines = str(message).strip().splitlines()
    tqdm.write(f"{PROG}: warning: {lines[0] if lines else category.__name__}", file=sys.stderr)


def _existing_input(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return path


def _output_path(path: Path, overwrite: bool) -> Path:
    """Refuse to clobber unless asked, and fail before any work when the folder is missing."""
    from tngvideo.io.atomic import check_output

    check_output(path, overwrite)
    return path


def _coded_input(path: Path, kind: str, magic: bytes, other_magic: bytes, hint: str) -> bytes:
    """The bytes of a ``kind`` (.tng or .tngv) file: refused with ``hint`` when it is the other kind, and
    before it is read whole when it does not start with the magic (a large file of another kind)."""
    if _existing_input(path).is_dir():
        raise InputError(f"{path}: is a folder, not a {kind} file")
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(magic))
            if start == other_magic:
                raise UsageError(f"{path}: {hint}")
            if start != magic:
                raise BitstreamError(f"{path}: not a {kind} file (bad magic)")
            return start + handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _write_bytes(path: Path, data: bytes, overwrite: bool) -> None:
    from tngvideo.io.atomic import write_bytes_atomic

    write_bytes_atomic(path, data, overwrite)


def _check_quality(quality: float, levels: int) -> None:
    if not 1.0 <= quality <= levels:
        raise UsageError(f"--quality must be between 1 and {levels} (the model's levels), got {quality:g}")


def _p_offset(args: argparse.Namespace) -> float:
    from tngvideo.video_coder import DEFAULT_INTER_QUALITY_OFFSET

    offset = DEFAULT_INTER_QUALITY_OFFSET if args.p_offset is None else float(args.p_offset)
    if not 0.0 <= offset < 9.0:
        raise UsageError(f"--p-offset must be in [0, 9), got {offset:g}")
    return offset


def _check_size(path: Path, width: int, height: int) -> None:
    from tngvideo.bitstream import picture_size_problem

    problem = picture_size_problem(width, height)
    if problem is not None:
        raise InputError(f"{path}: {problem}")


# --- image commands -----------------------------------------------------------------------------


def _skip_blocks(args: argparse.Namespace) -> bool:
    from tngvideo.codecs.block_skip import DEFAULT_SKIP_BLOCKS

    return DEFAULT_SKIP_BLOCKS if args.skip_blocks is None else bool(args.skip_blocks)


def _motion_search_steps(args: argparse.Namespace) -> int:
    from tngvideo.codecs.motion_search import DEFAULT_SEARCH_STEPS

    if args.motion_search is None:
        return DEFAULT_SEARCH_STEPS
    _positive(args.motion_search, "--motion-search", 0)
    return int(args.motion_search)


def _refine_steps(args: argparse.Namespace) -> int:
    if args.refine < 0:
        raise UsageError(f"--refine must be 0 or more steps, got {args.refine}")
    return int(args.refine)


def _cmd_image_encode(args: argparse.Namespace) -> int:
    from tngvideo.io.frames import open_video
    from tngvideo.io.pictures import read_picture

    output = _output_path(args.output, args.overwrite)
    steps = _refine_steps(args)
    if args.bpp is not None and not args.bpp > 0:
        raise UsageError(f"--bpp must be positive, got {args.bpp}")
    source = _existing_input(args.input)
    info = open_video(source).info  # the size from the file's header: refuse before decoding or loading anything
    _check_size(args.input, info.width, info.height)
    from tngvideo.tng_image import encode_image, encode_image_within, load_image_codec

    frame = read_picture(source)
    height, width = frame.shape[:2]
    loaded = load_image_codec(args.model)
    if args.bpp is None:
        _check_quality(args.quality, loaded.codec.num_levels)
        encoded = encode_image(frame, args.quality, loaded, steps)
    else:
        encoded, fits = encode_image_within(frame, int(args.bpp * width * height / 8), loaded, steps)
        if not fits:
            warnings.warn(f"{args.bpp:g} bpp is below what quality 1 needs for this picture", stacklevel=1)
    _write_bytes(output, encoded.data, args.overwrite)
    print(
        f"{output}: {len(encoded.data)} bytes, {8 * len(encoded.data) / (width * height):.4f} bpp, {width}x{height}, "
        f"quality {encoded.header.quality:.2f}"
    )
    return EXIT_OK


def _cmd_image_decode(args: argparse.Namespace) -> int:
    from tngvideo.bitstream import IMAGE_MAGIC, VIDEO_MAGIC
    from tngvideo.io.pictures import write_picture
    from tngvideo.tng_image import decode_image

    output = _output_path(args.output, args.overwrite)
    data = _coded_input(args.input, ".tng", IMAGE_MAGIC, VIDEO_MAGIC, f"a .tngv video, not a picture: use '{PROG} decode'")
    rgb = decode_image(data)
    write_picture(output, rgb, overwrite=args.overwrite)
    print(f"{output}: {rgb.shape[1]}x{rgb.shape[0]}")
    return EXIT_OK


def _cmd_image_eval(args: argparse.Namespace) -> int:
    from tngvideo.evaluation.image_eval import run_image_eval

    run_image_eval(
        _existing_input(args.directory), args.out, args.qualities, args.model, args.anchors, args.limit,
        _refine_steps(args), overwrite=args.overwrite,
    )
    return EXIT_OK


# --- video commands -----------------------------------------------------------------------------

def _positive(value: int | None, option: str, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise UsageError(f"{option} must be at least {minimum}, got {value}")


def _cmd_video_encode(args: argparse.Namespace) -> int:
    from tngvideo.bitstream import FrameType
    from tngvideo.codecs.encoder_settings import EncoderSettings
    from tngvideo.io.frames import open_video
    from tngvideo.rate_control import BitrateController
    from tngvideo.tng_inter import choose_video_models
    from tngvideo.tng_video import encode_video
    from tngvideo.video_coder import DEFAULT_GOP, EncodedUnit, GopPolicy

    _positive(args.gop, "--gop")
    _positive(args.frames, "--frames")
    _positive(args.start, "--start", 0)
    p_offset = _p_offset(args)
    settings = EncoderSettings(_refine_steps(args), _motion_search_steps(args), _skip_blocks(args))
    if args.bitrate is not None and not args.bitrate > 0:
        raise UsageError(f"--bitrate must be positive, got {args.bitrate}")
    output = _output_path(args.output, args.overwrite)
    source = open_video(_existing_input(args.input))
    _check_size(args.input, source.info.width, source.info.height)
    choice = choose_video_models(args.model, args.gop or DEFAULT_GOP)
    if choice.warning:
        warnings.warn(choice.warning, stacklevel=1)
    rate: float | BitrateController = args.quality
    if args.bitrate is not None:
        rate = BitrateController(args.bitrate, float(source.info.fps))
    else:
        inter = choice.models.inter
        _check_quality(args.quality, min(choice.models.intra.codec.num_levels,
                                         inter.codec.num_levels if inter else choice.models.intra.codec.num_levels))
    unit_bytes = {FrameType.INTRA: 0, FrameType.INTER: 0}

    def count(index: int, frame: object, unit: EncodedUnit) -> None:
        unit_bytes[unit.frame_type] += len(unit.data)

    summary = encode_video(source, output, choice.models, rate, GopPolicy(choice.gop, p_offset), args.frames,
                           args.start,
                           progress=True, settings=settings, on_unit=count, overwrite=args.overwrite)
    if summary.frames_over_budget:
        warnings.warn(
            f"{summary.frames_over_budget} of {summary.intra_frames} I-frames exceed their share of "
            f"{args.bitrate:g} kbit/s even at quality 1",
            stacklevel=1,
        )
    qualities = f"{summary.lowest_quality:.2f}" + (
        f"..{summary.highest_quality:.2f}" if summary.highest_quality != summary.lowest_quality else ""
    )
    intra_share = 100 * unit_bytes[FrameType.INTRA] / sum(unit_bytes.values())
    print(
        f"{output}: {summary.frames} frames ({summary.intra_frames} I, {summary.frames - summary.intra_frames} P) "
        f"{summary.width}x{summary.height} at {float(summary.fps):.3f} fps, GOP {choice.gop}, quality {qualities}, "
        f"I {intra_share:.0f}% / P {100 - intra_share:.0f}% of bytes, {summary.num_bytes} bytes, "
        f"{summary.bits_per_pixel:.4f} bpp, {summary.kilobits_per_second:.1f} kbit/s"
    )
    return EXIT_OK


def _cmd_video_decode(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tngvideo.bitstream import IMAGE_MAGIC, VIDEO_MAGIC
    from tngvideo.io.writers import open_writer
    from tngvideo.tng_video import open_tngv

    data = _coded_input(args.input, ".tngv", VIDEO_MAGIC, IMAGE_MAGIC, f"a .tng picture, not a video: use '{PROG} image decode'")
    video = open_tngv(data)  # verifies the whole file before any output is created
    header, starts = video.header, video.gop_starts
    if not 0 <= args.start_gop < len(starts):
        raise UsageError(f"--start-gop {args.start_gop}: the stream has {len(starts)} GOPs (0..{len(starts) - 1})")
    first = starts[args.start_gop]
    with open_writer(
        args.output, header.width, header.height, header.fps,
        crf=args.crf, lossless=args.lossless, chroma=args.chroma, overwrite=args.overwrite,
    ) as writer:
        for frame in tqdm(video.frames(args.start_gop), total=len(video.coded_frames) - first, unit="frame",
                          file=sys.stderr):
            writer.write(frame)
    start = f" (from GOP {args.start_gop}: frame {first} on)" if args.start_gop else ""
    print(f"{args.output}: {writer.frames_written} frames{start} {header.width}x{header.height} "
          f"at {float(header.fps):.3f} fps")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from tngvideo.codecs.encoder_settings import EncoderSettings
    from tngvideo.evaluation.video_eval import run_video_eval

    _positive(args.gop, "--gop")
    _positive(args.frames, "--frames")
    p_offset = _p_offset(args)
    search = _motion_search_steps(args)
    clip = _existing_input(args.input)
    settings = EncoderSettings(_refine_steps(args), search, _skip_blocks(args))
    run_video_eval(clip, args.out, args.frames, args.gop, args.model, args.quality, overwrite=args.overwrite,
                   inter_quality_offset=p_offset, settings=settings,
                   baselines=None if args.baselines is None else _existing_input(args.baselines))
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from tngvideo.info import describe

    print(describe(_existing_input(args.input)))
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line and a UsageError (exit code 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


DEBUG_HELP = "on an error, print the traceback too (for bug reports)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="TNG learned image and video codec.",
                     epilog="exit codes: 0 ok, 1 internal error (a bug), 2 usage, 3 input, 4 bitstream, 5 model, "
                            "6 output, 130 interrupted (SIGINT), 143 terminated (SIGTERM)")
    parser.add_argument("--debug", action="store_true", default=False, help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    encode = commands.add_parser(
        "encode", help="encode a video (file, frame folder or picture) into .tngv: I-frames and P-frames"
    )
    encode.add_argument("input", type=Path)
    encode.add_argument("output", type=Path)
    encode_rate = encode.add_mutually_exclusive_group()
    encode_rate.add_argument("--quality", type=float, default=DEFAULT_QUALITY, help=QUALITY_HELP)
    encode_rate.add_argument(
        "--bitrate", type=float, default=None, metavar="KBPS",
        help="average kbit/s instead of a fixed quality (each I-frame gets the highest quality its budget allows, "
        "its P-frames the same)",
    )
    encode.add_argument("--gop", type=int, default=None, metavar="N", help=GOP_HELP)
    encode.add_argument("--p-offset", type=float, default=None, metavar="D", help=P_OFFSET_HELP)
    encode.add_argument("--frames", type=int, default=None, metavar="N", help="only N frames")
    encode.add_argument("--start", type=int, default=0, metavar="K", help="skip the first K frames of the source")
    encode.add_argument("--refine", type=int, default=0, metavar="N", help=REFINE_HELP)
    encode.add_argument("--motion-search", type=int, default=None, metavar="N", help=MOTION_SEARCH_HELP)
    encode.add_argument("--skip-blocks", action=argparse.BooleanOptionalAction, default=None,
                        help=SKIP_BLOCKS_HELP)
    encode.add_argument("--model", default=None, help=VIDEO_MODEL_HELP)
    encode.add_argument("--overwrite", action="store_true")
    encode.set_defaults(run=_cmd_video_encode)

    decode = commands.add_parser(
        "decode", help="decode a .tngv file to .mp4/.mkv (H.264), .y4m, or a folder of PNGs (path ending in /)"
    )
    decode.add_argument("input", type=Path)
    decode.add_argument("output", type=Path)
    decode.add_argument("--start-gop", type=int, default=0, metavar="K",
                        help="start at the K-th GOP (0-based; 'tngvideo info' lists the I-frames)")
    decode.add_argument("--lossless", action="store_true", help="bit-exact RGB in .mp4/.mkv (libx264rgb)")
    decode.add_argument("--chroma", choices=["420", "444"], default="420", help="for lossy .mp4/.mkv and .y4m")
    decode.add_argument("--crf", type=int, default=None, help="x264 CRF of lossy .mp4/.mkv output (default 12)")
    decode.add_argument("--overwrite", action="store_true")
    decode.set_defaults(run=_cmd_video_decode)

    evaluate = commands.add_parser(
        "eval", help="tngvideo (real encoder and decoder) vs x264/x265 on a clip: per-frame table, RD plot, BD-rates"
    )
    evaluate.add_argument("input", type=Path)
    evaluate.add_argument("--out", type=Path, default=None, help="folder for JSON, CSV and the RD plot")
    evaluate.add_argument("--frames", type=int, default=EVAL_FRAMES, metavar="N",
                          help=f"the first N frames (default {EVAL_FRAMES})")
    evaluate.add_argument("--gop", type=int, default=32, metavar="N",
                          help="intra period of tngvideo and the anchors (default 32)")
    evaluate.add_argument("--p-offset", type=float, default=None, metavar="D", help=P_OFFSET_HELP)
    evaluate.add_argument("--quality", type=float, nargs="+", default=None, metavar="Q",
                          help="tngvideo qualities (default: every second level, 2, 4, .., 10 for 10 levels)")
    evaluate.add_argument("--model", default=None, help=VIDEO_MODEL_HELP)
    evaluate.add_argument("--refine", type=int, default=0, metavar="N", help=REFINE_HELP)
    evaluate.add_argument("--motion-search", type=int, default=None, metavar="N", help=MOTION_SEARCH_HELP)
    evaluate.add_argument("--skip-blocks", action=argparse.BooleanOptionalAction, default=None,
                          help=SKIP_BLOCKS_HELP)
    evaluate.add_argument("--overwrite", action="store_true", help="replace the reports of an earlier run in --out")
    evaluate.add_argument("--baselines", type=Path, default=None, metavar="DIR",
                          help="take the all-intra and x264/x265 curves from an earlier eval's reports in DIR when "
                               "they were measured on the same frames, machine, libraries and settings (all-intra's "
                               "first frame is coded again to check); only what changed is measured")
    evaluate.set_defaults(run=_cmd_eval)

    info = commands.add_parser("info", help="describe a .tngv (every frame) or .tng file, or any media file")
    info.add_argument("input", type=Path)
    info.set_defaults(run=_cmd_info)

    image = commands.add_parser("image", help="the TNG image codec").add_subparsers(
        dest="image_command", required=True, parser_class=_Parser)
    image_encode = image.add_parser("encode", help="encode a picture (PNG, JPEG, ...) into .tng")
    image_encode.add_argument("input", type=Path)
    image_encode.add_argument("output", type=Path)
    image_rate = image_encode.add_mutually_exclusive_group()
    image_rate.add_argument("--quality", type=float, default=DEFAULT_QUALITY, help=QUALITY_HELP)
    image_rate.add_argument(
        "--bpp", type=float, default=None, help="target bits per pixel: the highest quality whose file is at most this"
    )
    image_encode.add_argument("--refine", type=int, default=0, metavar="N", help=REFINE_HELP)
    image_encode.add_argument("--model", default=None, help="shipped model name (default: the newest image model)")
    image_encode.add_argument("--overwrite", action="store_true")
    image_encode.set_defaults(run=_cmd_image_encode)

    image_decode = image.add_parser("decode", help="decode a .tng file into a PNG")
    image_decode.add_argument("input", type=Path)
    image_decode.add_argument("output", type=Path)
    image_decode.add_argument("--overwrite", action="store_true")
    image_decode.set_defaults(run=_cmd_image_decode)

    image_eval = image.add_parser("eval", help="RD evaluation on a folder of pictures, with BD-rates vs anchors")
    image_eval.add_argument("directory", type=Path)
    image_eval.add_argument("--out", type=Path, default=Path("results/image_eval"))
    image_eval.add_argument("--qualities", type=float, nargs="+", default=None)
    image_eval.add_argument("--model", default=None)
    image_eval.add_argument("--anchors", type=Path, default=None, help="anchor JSON from scripts/bench_image.py")
    image_eval.add_argument("--limit", type=int, default=None, help="only the first N pictures")
    image_eval.add_argument("--refine", type=int, default=0, metavar="N", help=REFINE_HELP)
    image_eval.add_argument("--overwrite", action="store_true", help="replace the reports of an earlier run in --out")
    image_eval.set_defaults(run=_cmd_image_eval)
    for subparsers in (commands, image):
        for command in subparsers.choices.values():
            if command.get_default("run") is not None:  # --debug after the command works too
                command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code (see the module docstring and the README)."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings(), _terminate_as_exception():
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):  # libraries' API notices
            warnings.simplefilter("ignore", category)
        warnings.showwarning = _one_line_warning
        try:
            args = build_parser().parse_args(argv)
            debug = bool(args.debug)
            with _quiet_libav(debug):
                return int(args.run(args))
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        except TngError as exc:
            return _report(f"error: {_one_line(exc)}", type(exc).exit_code, debug)
        except KeyboardInterrupt:
            return _report("interrupted (SIGINT): no incomplete output is left", EXIT_INTERRUPTED, debug)
        except Terminated:
            return _report("terminated (SIGTERM): no incomplete output is left", EXIT_TERMINATED, debug)
        except MemoryError:
            return _report("error: out of memory (the picture or clip is too large for this machine)", EXIT_INTERNAL,
                           debug)
        except Exception as exc:  # noqa: BLE001 (a bug: one line, the traceback with --debug)
            hint = "" if debug else f"; run with '{PROG} --debug' for the traceback"
            return _report(f"internal error: {type(exc).__name__}: {_one_line(exc)} (please report it{hint})",
                           EXIT_INTERNAL, debug)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _report(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=sys.stderr)
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


@contextmanager
def _quiet_libav(debug: bool) -> Iterator[None]:
    """ffmpeg's own log lines off (they are many, and multi-line): tngvideo reports what matters, a
    damaged frame or an unreadable file, as one warning or error line. ``--debug`` keeps them."""
    if debug:
        yield
        return
    import av.logging

    previous = av.logging.get_level()
    av.logging.set_level(av.logging.PANIC)
    try:
        yield
    finally:
        av.logging.set_level(previous)


@contextmanager
def _terminate_as_exception() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated` in the main thread (as SIGINT raises
    KeyboardInterrupt), so partial outputs are deleted on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def console_main() -> None:
    """Entry point of the ``tngvideo`` console script."""
    sys.exit(main())
