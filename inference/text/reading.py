"""A line as the recogniser read it: the one type that the recogniser (recognize.py), the
script check (scripts.py) and the Korean reader (korean/) all pass along. In a module of its own
so that none of them has to import another for it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Reading(NamedTuple):
    text: str
    score: float  # mean probability of the characters read (the API's `score`)
    weakest: float  # probability of the least certain character: one doubtful character in a
    # long line barely moves the mean
    spans: tuple = ()  # per character of `text`: (start, end) as fractions of the strip's width,
    # in reading order (recognize.char_spans)
    probs: tuple = ()  # per character of `text`: the probability it was read with
    at: tuple = ()  # per character of `text`: the middle of the time steps that emitted it, as a
    # fraction of the strip's width (where the glyph is; its span may reach far past it)
    classes: np.ndarray | None = None  # per time step over the strip: the probabilities of
    # scripts.CLASSES (background, readable, each script the model cannot read); None for a
    # recogniser without the features output (scripts.with_features)
    step: float = 0.0  # the share of the strip's width one time step covers
