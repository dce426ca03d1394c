"""What a job writes besides its JSON Lines (POST /jobs "outputs"), per document:

write.py     the outputs of a document once its pages are recorded, their names, where they
             go, the list at the job's finish and in GET /jobs/{jobId}
pdf.py       the searchable PDF: the input's own pages with an invisible text layer
font.py      its one font: glyphless, any script, a few kilobytes per document
images.py    an image or TIFF input as a PDF of its own pictures
markdown.py  Markdown: reading order, headings, tables as HTML, figures, no running
             headers or footers
reading.py   the reading order of a page's blocks (columns, vertical text)
"""
