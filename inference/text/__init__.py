"""The PP-OCR stages' own work, before and after each model runs (no sessions are made here).

detect.py       the detector's input and its boxes (DB post-processing), reading order
small_text.py   a second detection pass at native resolution over tiles of large photos
crops.py        each line cut out upright; the slivers a crop's edge cut
classify.py     the 0/180 angle classifier: upside-down lines turned
recognize.py    recognition: width buckets, batches, CTC decoding, each character's span
reading.py      Reading: a line as the recogniser read it
scripts.py      text in a script the recogniser cannot read, found along each line
orientation.py  which way up a page is, and its reading order in that direction
cut.py          Cut: the lines of an image, detected and cut out, in reading order
lines.py        OcrLine: a line as the engine answers it, in the image's own pixels
"""
