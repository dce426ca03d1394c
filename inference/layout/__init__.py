"""Tables on a page (`tables=1`): found by the CDLA layout model and by their rules; a ruled
table's rows and cells read from its rules, the others' by SLANet-plus; their text from our own
OCR lines.

    tables.py     TableReader: where the tables are, and each one's structure, run on the models
    rules.py      rule strokes, the rule lines and the grid they make, its merged cells
    ruled.py      a page's rules: the grid at a region grown to its table's outer rules, the
                  grids no region found; whether the text shows rows or columns the rules do not
    structure.py  the structure model's tokens and boxes decoded into rows, columns and spans
    cells.py      the cells filled from the lines' characters; the table as HTML
    regions.py    every kind of region the layout model finds (`layout=1`: titles, figures,
                  headers, footers), for the jobs' Markdown
"""
