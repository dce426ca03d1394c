"""The SageMaker container's side of the protocol (ocr_contract/protocol.py).

server.py          GET /ping, POST /invocations: the options, the deadline, the tasks
admission.py       how many requests run and wait, in two lanes
document_pages.py  task=document: a range of a document's pages read as they render
http_io.py         request bodies read whole, and JSON for aiohttp's own errors (also the local gateway's)
"""
