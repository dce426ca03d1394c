"""Tables on a page (`tables=1`): found by the CDLA layout model, their rows and cells by
SLANet-plus, their text from our own OCR lines.

    tables.py     TableReader: where the tables are, and each one's structure, run on the models
    structure.py  the structure model's tokens and boxes decoded into rows, columns and spans
    cells.py      the cells filled from the lines' characters; the table as HTML
    regions.py    every kind of region the layout model finds (`layout=1`: titles, figures,
                  headers, footers), for the jobs' Markdown
"""
