"""Licence plates (task=plates): Chinese plates read by PP-OCR, Korean plates by our own models,
each decoded under its country's plate grammar.

    reader.py        PlateReader: the route the engine calls, and the views each model reads
    candidates.py    which lines, and pairs of lines, may be a plate
    answers.py       which readings are answered: one per place, and the rules between countries
    grammar.py       the plate grammars and the constrained CTC search under them
    korean_model.py  our Korean plate recogniser (weights in inference/weights/)
    slant.py         a line's slant, and the line sheared upright
"""

from .answers import Reader, read
from .candidates import joined, stacked_rows
from .reader import PlateReader

__all__ = ["PlateReader", "Reader", "joined", "read", "stacked_rows"]
