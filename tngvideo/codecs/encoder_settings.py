"""How hard the encoder works: settings that change the bits, never the format, so any decoder reads the files."""

from __future__ import annotations

from dataclasses import dataclass

from tngvideo.codecs.block_skip import DEFAULT_SKIP_BLOCKS
from tngvideo.codecs.motion_search import DEFAULT_CANDIDATE_ROUNDS, DEFAULT_MOTION_WEIGHT, DEFAULT_SEARCH_STEPS
from tngvideo.errors import InputError


@dataclass(frozen=True)
class EncoderSettings:
    """Encoder-only effort, passed down as one object. ``refine_steps``: latent refinement steps per frame,
    I and P (:mod:`~tngvideo.codecs.latent_refinement`, 0: off); ``motion_search_steps``: motion search steps
    per P-frame (:mod:`~tngvideo.codecs.motion_search`, 0: the flow network's vectors as they are);
    ``skip_blocks``: P-frame blocks coded as "the prediction" where that costs less
    (:mod:`~tngvideo.codecs.block_skip`); ``motion_weight``: the motion search's weight on the prediction's
    distortion, in units of the frame's λ, and ``motion_candidates`` its rounds of neighbours' vectors tried per block
    before its steps (:mod:`~tngvideo.codecs.motion_search`)."""

    refine_steps: int = 0
    motion_search_steps: int = DEFAULT_SEARCH_STEPS
    skip_blocks: bool = DEFAULT_SKIP_BLOCKS
    motion_weight: float = DEFAULT_MOTION_WEIGHT
    motion_candidates: int = DEFAULT_CANDIDATE_ROUNDS

    def __post_init__(self) -> None:
        if self.refine_steps < 0:
            raise InputError(f"latent refinement must be 0 or more steps, got {self.refine_steps}")
        if self.motion_search_steps < 0:
            raise InputError(f"motion search must be 0 or more steps, got {self.motion_search_steps}")
        if self.motion_candidates < 0:
            raise InputError(f"motion candidate rounds must be 0 or more, got {self.motion_candidates}")
        if not self.motion_weight > 0:
            raise InputError(f"the motion search's distortion weight must be positive, got {self.motion_weight}")
