"""Documents (PDF, TIFF) and long images into page images, in a child process with hard limits.

    render.py   the caller's side: starts the worker, streams its pages, kills it at the deadline
    worker.py   the child process: decodes under an address-space and a CPU cap
    pdf_pages.py    (in the worker) a PDF page as it is: a scan at its own pixels, its text layer,
                    or a render at a resolution chosen from its content
    pdf_text.py     (in the worker) a page's text layer as PDFium reads it, and whether to trust it
    text_layer.py   a text layer's characters as lines; a page's answer from them and OCR
    encode.py   a page as PNG, or JPEG where that must fit a size

Used by the Lambda frontend (the CLOVA door's documents, the NHN cropping door's long images)
and by the container's document task (the jobs API). Needs Pillow and pypdfium2, imported only
when a document is read.
"""
