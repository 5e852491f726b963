"""tngvideo: a learned image and video codec (CNN transforms, hyperprior entropy models, constriction coding).

Start at ``tngvideo.cli`` (the command), ``tngvideo.tng_image`` (image encoder/decoder objects) and
``docs/bitstream.md`` (the file format).
"""

__version__ = "0.1.0"
