"""Benchmarks: accuracy and speed of the engine beside rapidocr and tesseract (`make bench`)."""
