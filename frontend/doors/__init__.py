"""The API's doors: each turns one API's requests into reads of the shared pipeline
(frontend/pipeline.py) and the lines into that API's answer, errors included.

    general_ocr   POST /general_ocr                                     ours (the AI Solution Kit's)
    nhn           POST /v1.0/appkeys/{appKey}/general[/cropping]        NHN Cloud General OCR
    nhn_plate     POST /v1.0/appkeys/{appKey}/vehicle-plate             NHN Cloud Vehicle Plate OCR (Korean and Chinese plates)
    clova         POST /custom/v1/{domainId}/{signature}/general        NAVER CLOVA General OCR

A door module has `PATH` (a regular expression for the paths it answers), `answer(incoming,
request_id, deadline) -> (status, body)` and `error_body(ApiError, request_id) -> body`.
"""
from __future__ import annotations

import re

from . import clova, general_ocr, nhn, nhn_plate

DOORS = (general_ocr, nhn, nhn_plate, clova)


def secret_header(route: str) -> str:
    """The header carrying the API key on a route template of ocr_contract.routes
    (`/v1.0/appkeys/{appKey}/general` -> `authorization`)."""
    return door_for(route.replace("{", "").replace("}", "")).SECRET_HEADER


def door_for(path: str):
    """The door answering `path`, or None."""
    for door in DOORS:
        if re.fullmatch(door.PATH, path):
            return door
    return None
