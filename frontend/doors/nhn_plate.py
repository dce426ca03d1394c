"""The NHN Vehicle Plate door: NHN Cloud's licence plate OCR, for Korean and Chinese plates.

    POST /v1.0/appkeys/{appKey}/vehicle-plate[?country=kr|cn]   multipart `image`, or JSON {"imageUrl": ...}

The request, the key header and the errors are NHN General OCR's (nhn.py). The answer lists
every plate read in the photo, most confident first: `values` (the plate and `conf`, the
probability of its reading under the plate grammar, inference/plate_grammar.py) and `boxes`
in the same order. A photo with no plate is a success with empty lists. `country` is our
addition: without it every line is read as a Korean and as a Chinese plate, and each place keeps
the reading its grammar is surer of.
"""

from __future__ import annotations

from ocr_contract.image_header import inspect_image
from ocr_contract.request import plate_country
from ocr_contract.routes import NHN_VEHICLE_PLATE

from ..incoming import Incoming
from ..pipeline import read_plates
from . import nhn

ROUTES = (NHN_VEHICLE_PLATE,)
SECRET_HEADER = nhn.SECRET_HEADER
error_body = nhn.error_body


def answer(incoming: Incoming, request_id: str, deadline: float, record: dict) -> tuple[int, dict]:
    country = plate_country(incoming.query.get("country"))  # checked before any image is fetched
    image = nhn.request_image(incoming, deadline, record)
    record["bytes"] = len(image)
    header = inspect_image(image)
    plates = read_plates(image, request_id, deadline, header=header, country=country)
    record["plates"] = len(plates)
    return 200, nhn.success(
        {
            "fileType": nhn.FILE_TYPES[header.format],
            "values": [{"value": plate["value"], "conf": plate["conf"]} for plate in plates],
            "boxes": [nhn.corners(plate["box"]) for plate in plates],
            "resolution": nhn.resolution(header),
        }
    )
