"""The YCbCr conventions the reader and the writers share, so a round trip cannot shift colours.

Matrix: a stream's tag wins; untagged streams follow players (BT.601 below 720 lines, BT.709 from
720 up). The writers pick the matrix by the same height rule and tag it, so even containers that
cannot store a matrix (y4m) read back right.

Conversion is swscale with ``SWS_FLAGS``, chosen by measurement on 6 CID22 photos + a foreman frame:

- 8-bit 4:4:4, RGB->YCbCr->RGB: 53.0 dB (BT.601) / 52.8 dB (BT.709) limited range, max error 2, the
  same for default, BICUBIC and BICUBIC|ACCURATE_RND, and equal to an exact float conversion. Full
  range: 49.6 dB against 54.1 dB in float (swscale biases chroma by half a code value), one more
  reason the writers use limited range.
- 4:2:0: the flags only matter for chroma. Decoding ffmpeg-made (bicubic) 4:2:0 with
  ``ACCURATE_RND | FULL_CHR_H_INT`` interpolates chroma instead of replicating it: 41.1 dB against
  39.4 dB with the default flags; LANCZOS adds 0.1 dB for 40% more time.
"""

from __future__ import annotations

from typing import Literal

from av.video.reformatter import ColorRange, Colorspace, Interpolation

Matrix = Literal["bt601", "bt709", "bt2020"]
Range = Literal["limited", "full"]

SWS_FLAGS = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
HD_HEIGHT = 720
# swscale sites 4:2:0 chroma it makes at the centre (JPEG / MPEG-1), and honours a decoded frame's
# siting when reading. H.264 assumes left siting unless told, so the writers tag it: untagged, a
# saturated gradient came back at 38.9 dB RGB PSNR instead of 50.1 dB.
CHROMA_SITING = "center"

# ffmpeg's AVColorSpace codes (ISO/IEC 23091-2 MatrixCoefficients) -> matrix.
_MATRIX_OF_CODE: dict[int, Matrix] = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
# What the writers tag: matrix, primaries and transfer all SMPTE 170M (SD) or all BT.709 (HD).
_TAG_CODE: dict[Matrix, int] = {"bt601": 6, "bt709": 1}
_SWS_COLORSPACE: dict[Matrix, Colorspace] = {
    "bt601": Colorspace.ITU601,
    "bt709": Colorspace.ITU709,
    "bt2020": Colorspace.BT2020,
}
_RANGE_CODE: dict[Range, ColorRange] = {"limited": ColorRange.MPEG, "full": ColorRange.JPEG}


def default_matrix(height: int) -> Matrix:
    """The matrix players assume for untagged video of this height."""
    return "bt709" if height >= HD_HEIGHT else "bt601"


def matrix_of_tag(code: int, height: int) -> Matrix:
    """A stream's AVColorSpace tag as a matrix; unspecified (or GBR, on gray) follows the height rule."""
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
    """swscale's own colorspace constant (SWS_CS_*, not the AVColorSpace tag) for a matrix."""
    return _SWS_COLORSPACE[matrix]


def range_code(range_: Range) -> ColorRange:
    """ffmpeg's AVColorRange for a range: what swscale takes and what streams are tagged with."""
    return _RANGE_CODE[range_]
