"""``tngvideo info``: a short description of a .tng / .tngv file or of any readable media."""

from __future__ import annotations

from pathlib import Path

from tngvideo.bitstream import IMAGE_MAGIC, VIDEO_MAGIC, CodedFrame, FrameType, frame_bytes, unpack_image, unpack_video


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
            f"{path}: TNG image (format version {header.version}), {header.width}x{header.height}, quality {header.quality:g}",
            (f"  model id {header.model.model_id}, weights {header.model.weights_hash.hex()}, coder {header.coder_id}, "
             f"reconstruction: {header.reconstruction.name}"),
            f"  {len(data)} bytes ({bpp:.4f} bpp): hyper {len(payload.hyper)} B, latent {' + '.join(str(len(s)) for s in payload.latents)} B",
        ]
    )


def _describe_video(path: Path, data: bytes) -> str:
    header, frames = unpack_video(data)
    bpp = 8 * len(data) / (len(frames) * header.width * header.height)
    kbps = 8 * len(data) * float(header.fps) / len(frames) / 1000
    sizes = [_unit_bytes(frame, header.version) for frame in frames]
    intra = [frame.frame_type == FrameType.INTRA for frame in frames]
    intra_bytes = sum(size for size, is_intra in zip(sizes, intra, strict=True) if is_intra)
    models = ", ".join(f"{role.name.lower()} id {identity.model_id} (weights {identity.weights_hash.hex()})"
                       for role, identity in header.models)
    geometry = f"{header.width}x{header.height}, {float(header.fps):.3f} fps ({header.fps})"
    counts = f"{len(frames)} frames ({sum(intra)} I, {len(frames) - sum(intra)} P)"
    shares = f"I-frames {intra_bytes} bytes ({100 * intra_bytes / sum(sizes):.0f}%), P-frames {sum(sizes) - intra_bytes} bytes"
    lines = [
        f"{path}: TNG video (format version {header.version}), {geometry}, {counts}",
        f"  models: {models}; coder {header.coder_id}; reconstruction: {header.reconstruction.name}",
        f"  {len(data)} bytes ({bpp:.4f} bpp, {kbps:.1f} kbit/s): {shares}",
        f"  {'frame':>6} {'type':>4} {'bytes':>8} {'quality':>8}",
    ]
    for index, (frame, size) in enumerate(zip(frames, sizes, strict=True)):
        lines.append(f"  {index:6d} {'I' if frame.frame_type == FrameType.INTRA else 'P':>4} {size:8d} {frame.quality:8g}")
    return "\n".join(lines)


def _unit_bytes(frame: CodedFrame, version: int) -> int:
    """The bytes of a frame's unit in the file, as its format version lays it out."""
    return len(frame_bytes(frame, version))
