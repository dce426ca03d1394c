"""The API's doors: each turns one API's requests into reads of the shared pipeline
(frontend/pipeline.py) and the lines into that API's answer, errors included.

    general_ocr   POST /general_ocr                                     ours (the AI Solution Kit's)
    nhn           POST /v1.0/appkeys/{appKey}/general[/cropping]        NHN Cloud General OCR
    nhn_plate     POST /v1.0/appkeys/{appKey}/vehicle-plate             NHN Cloud Vehicle Plate OCR (Korean and Chinese plates)
    clova         POST /custom/v1/{domainId}/{signature}/general        NAVER CLOVA General OCR
    jobs          POST /jobs, GET /jobs/{jobId}[/result]                ours: asynchronous and bulk OCR (docs/jobs.md)

A door module has `ROUTES` (the templates of ocr_contract.routes it answers), `SECRET_HEADER`
(the header carrying the API key in AWS), `answer(incoming, request_id, deadline, record) ->
(status, body)` and `error_body(ApiError, request_id) -> body`.
"""

from __future__ import annotations

from ocr_contract.routes import matches

from . import clova, general_ocr, jobs, nhn, nhn_plate

DOORS = (general_ocr, nhn, nhn_plate, clova, jobs)


def secret_header(route: str) -> str:
    """The header carrying the API key on a route of ocr_contract.routes
    (`/v1.0/appkeys/{appKey}/general` -> `authorization`)."""
    door = door_for(route)
    if door is None:
        raise KeyError(f"no door answers {route}")
    return door.SECRET_HEADER


def door_for(route: str):
    """The door answering `route` (API Gateway's resource template, or a request path), or None."""
    for door in DOORS:
        if any(matches(template, route) for template in door.ROUTES):
            return door
    return None
