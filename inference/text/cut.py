"""The lines of an image as the engine cut them: what every reader after detection starts from
(the recogniser, the Korean reader, the plate reader)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import orientation


class Cut(NamedTuple):
    """The lines of an image, detected and cut out upright, in reading order."""

    boxes: np.ndarray  # each line's detected quad, original pixels
    cut_from: list  # the quad each strip was cut from (the whole image for a one-line crop)
    cut_widths: list[int]  # each strip's width before side padding
    strips: list[np.ndarray]  # upright, side-padded where the line touches the image's edge
    flipped: list[bool]  # turned half round by the classifier
    unless_sure: np.ndarray  # dropped unless read surely (crops.edge_fragments)
    turned: int = orientation.UPRIGHT  # not UPRIGHT: the page runs this way (orientation.py), and
    # is to be read turned upright

    def read_whole(self) -> list[bool]:
        """Per line: is its strip the whole image (crops.fills_image), not its box?"""
        return [not np.array_equal(source, box) for source, box in zip(self.cut_from, self.boxes)]

    def unpadded_strips(self) -> list[np.ndarray]:
        """The strips as cut, without the side padding (it is even: pad_sides, then at most a
        half turn)."""
        return [s[:, (s.shape[1] - w) // 2 : (s.shape[1] - w) // 2 + w] for s, w in zip(self.strips, self.cut_widths)]
