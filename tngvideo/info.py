"""``tngvideo info``: a short description of a .tng / .tngv file or of any readable media."""

from __future__ import annotations

from pathlib import Path

from tngvideo.bitstream import IMAGE_MAGIC, VIDEO_MAGIC, unpack_image, unpack_video


def describe(path: Path) -> str:
    """Human-readable lines: container header for .tng/.tngv files, stream properties for media."""
    if path.is_file():
        with open(path, "rb") as handle:
            magic = handle.read(len(IMAGE_MAGIC))
        if magic == IMAGE_MAGIC:
            return _describe_image(path, path.read_bytes())
        if magic == VIDEO_MAGIC:
            return _describe_video(path, path.read_bytes())
    from tngvideo.io.frames import open_video

    info = open_video(path).info
    frames = info.frame_count if info.frame_count is not None else "unknown"
    return (
        f"{path}: {info.width}x{info.height}, {float(info.fps):.3f} fps ({info.fps}), {frames} frames, "
        f"{info.source_format}, {info.colorspace} {info.color_range} range"
    )


def _describe_image(path: Path, data: bytes) -> str:
    header, payload = unpack_image(data)
    bpp = 8 * len(data) / (header.width * header.height)
    return "\n".join(
        [
            f"{path}: TNG image, {header.width}x{header.height}, quality {header.quality:g}",
            f"  model id {header.model.model_id}, weights {header.model.weights_hash.hex()}, coder {header.coder_id}",
            f"  {len(data)} bytes ({bpp:.4f} bpp): hyper {len(payload.hyper)} B, latent {' + '.join(str(len(s)) for s in payload.latents)} B",
        ]
    )


def _describe_video(path: Path, data: bytes) -> str:
    header, frames = unpack_video(data)
    bpp = 8 * len(data) / (len(frames) * header.width * header.height)
    kbps = 8 * len(data) * float(header.fps) / len(frames) / 1000 if frames else 0.0
    types = "".join(frame.frame_type.name[0] for frame in frames)
    qualities = sorted({frame.quality for frame in frames})
    return "\n".join(
        [
            f"{path}: TNG video, {header.width}x{header.height}, {float(header.fps):.3f} fps ({header.fps}), {len(frames)} frames",
            f"  model id {header.model.model_id}, weights {header.model.weights_hash.hex()}, coder {header.coder_id}",
            f"  {len(data)} bytes ({bpp:.4f} bpp, {kbps:.1f} kbit/s), qualities {', '.join(f'{q:g}' for q in qualities)}",
            f"  frame types {types if len(types) <= 60 else types[:57] + '...'}",
        ]
    )
