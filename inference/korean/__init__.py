"""Korean text (`lang=ko`): Tesseract's Korean LSTM beside PP-OCR, which has no Hangul.

routing.py    the rule, word by word, between Tesseract's reading and PP-OCR's, its thresholds at the top
tesseract.py  KoreanReader: Tesseract over line strips, a pool of API objects, bounded in time
tessdata.py   kor.traineddata: where it is, how `--prepare-models` provisions it, what to install
"""

from .routing import is_hangul, korean_or_ppocr, with_korean
from .tessdata import TESSDATA_ENV, language_not_available, prepare
from .tesseract import KoreanReader, Symbol

__all__ = [
    "TESSDATA_ENV",
    "KoreanReader",
    "Symbol",
    "is_hangul",
    "korean_or_ppocr",
    "language_not_available",
    "prepare",
    "with_korean",
]
