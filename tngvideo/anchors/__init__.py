"""Classical codecs (JPEG, WebP, AVIF, JPEG 2000, x264, x265, SVT-AV1) as rate-distortion anchors.

``colour`` converts RGB <-> YCbCr in full precision, ``libav`` is the only module that drives PyAV
encoders, ``image`` and ``video`` measure codecs on pictures and clips. Nothing here knows the
networks.
"""

from tngvideo.anchors.colour import ColourSpec, YuvPlanes, planes_to_rgb, rgb_to_planes
from tngvideo.anchors.image import ImageAnchor, ImageResult, default_image_anchors
from tngvideo.anchors.video import FrameRecord, VideoAnchor, VideoResult, default_video_anchors, encode_clip

__all__ = [
    "ColourSpec",
    "FrameRecord",
    "ImageAnchor",
    "ImageResult",
    "VideoAnchor",
    "VideoResult",
    "YuvPlanes",
    "default_image_anchors",
    "default_video_anchors",
    "encode_clip",
    "planes_to_rgb",
    "rgb_to_planes",
]
