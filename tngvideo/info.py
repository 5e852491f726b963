"""``tngvideo info``: a short description of a .tng file or of any readable media."""

from __future__ import annotations

from pathlib import Path

from tngvideo.bitstream import IMAGE_MAGIC, unpack_image


def describe(path: Path) -> str:
    """Human-readable lines: container header for .tng files, stream properties for media."""
    if path.is_file():
        with open(path, "rb") as handle:
            magic = handle.read(len(IMAGE_MAGIC))
        if magic == IMAGE_MAGIC:
            data = path.read_bytes()
            header, payload = unpack_image(data)
            bpp = 8 * len(data) / (header.width * header.height)
            return "\n".join(
                [
                    f"{path}: TNG image, {header.width}x{header.height}, quality {header.quality:g}",
                    f"  model id {header.model.model_id}, weights {header.model.weights_hash.hex()}, coder {header.coder_id}",
                    f"  {len(data)} bytes ({bpp:.4f} bpp): hyper {len(payload.hyper)} B, latent {' + '.join(str(len(s)) for s in payload.latents)} B",
                ]
            )
    from tngvideo.io.frames import open_video

    info = open_video(path).info
    frames = info.frame_count if info.frame_count is not None else "unknown"
    return (
        f"{path}: {info.width}x{info.height}, {float(info.fps):.3f} fps ({info.fps}), {frames} frames, "
        f"{info.source_format}, {info.colorspace} {info.color_range} range"
    )
