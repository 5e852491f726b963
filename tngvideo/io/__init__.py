"""Media in and out as streams of HxWx3 uint8 RGB frames; knows nothing of the networks."""

from tngvideo.io.frames import VideoInfo, VideoSource, iter_clip_frames, open_video
from tngvideo.io.pictures import read_picture, write_picture
from tngvideo.io.writers import DEFAULT_CRF, FrameWriter, open_writer

__all__ = ["DEFAULT_CRF", "FrameWriter", "VideoInfo", "VideoSource", "iter_clip_frames", "open_video", "open_writer", "read_picture", "write_picture"]
