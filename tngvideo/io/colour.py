"""The YCbCr conventions the reader and the writers share, so a round trip cannot shift colours.

Matrix: a stream's tag wins; untagged streams follow players (BT.601 below 720 lines, BT.709 from
720 up). The writers pick the matrix by the same height rule and tag it, so even containers that
cannot store a matrix (y4m) read back right.

Conversion is swscale with ``SWS_FLAGS``, chosen by measurement (see ``tests/data/README.md``):
on 8-bit 4:4:4 every flag set gives the same result (within one code value of an exact float
conversion); on 4:2:0 ``ACCURATE_RND | FULL_CHR_H_INT`` makes swscale interpolate chroma instead of
replicating it, +1.7 dB RGB PSNR over the default. swscale's full-range RGB->YCbCr path biases
chroma by half a code value, one more reason the writers use limited range.
"""

from __future__ import annotations

from typing import Literal

from av.video.reformatter import ColorRange, Colorspace, Interpolation

Matrix = Literal["bt601", "bt709", "bt2020", "rgb"]
Range = Literal["limited", "full"]

SWS_FLAGS = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
HD_HEIGHT = 720

# ffmpeg's AVColorSpace codes (ISO/IEC 23091-2 MatrixCoefficients) -> matrix.
_MATRIX_OF_CODE: dict[int, Matrix] = {0: "rgb", 1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
# What the writers tag: matrix, primaries and transfer all SMPTE 170M (SD) or all BT.709 (HD).
_TAG_CODE: dict[Matrix, int] = {"bt601": 6, "bt709": 1}
_SWS_COLORSPACE: dict[Matrix, Colorspace] = {
    "bt601": Colorspace.ITU601,
    "bt709": Colorspace.ITU709,
    "bt2020": Colorspace.BT2020,
}
_SWS_RANGE: dict[Range, ColorRange] = {"limited": ColorRange.MPEG, "full": ColorRange.JPEG}


def default_matrix(height: int) -> Matrix:
    """The matrix players assume for untagged video of this height."""
    return "bt709" if height >= HD_HEIGHT else "bt601"


def matrix_of_tag(code: int, height: int) -> Matrix:
    """A stream's AVColorSpace tag as a matrix; unknown or unspecified tags follow the height rule."""
    return _MATRIX_OF_CODE.get(code) or default_matrix(height)


def range_of_tag(code: int, pix_fmt: str, default: Range) -> Range:
    """A stream's AVColorRange tag (yuvj* formats are full range by definition)."""
    if code == ColorRange.JPEG or pix_fmt.startswith("yuvj"):
        return "full"
    return "limited" if code == ColorRange.MPEG else default


def tag_code(matrix: Matrix) -> int:
    """The colorspace = primaries = transfer code the writers tag for a YCbCr matrix."""
    return _TAG_CODE[matrix]


def sws_colorspace(matrix: Matrix) -> Colorspace:
    return _SWS_COLORSPACE[matrix]


def sws_range(range_: Range) -> ColorRange:
    return _SWS_RANGE[range_]
