"""The API's routes, written once: API Gateway's resources (infra/ocr_api.py) and the local
gateway's (local/gateway.py) are made from this list. Each is answered by a door in
frontend/doors/, which names the routes it answers."""

import re

GENERAL_OCR = "/general_ocr"
NHN_GENERAL = "/v1.0/appkeys/{appKey}/general"
NHN_CROPPING = "/v1.0/appkeys/{appKey}/general/cropping"
NHN_VEHICLE_PLATE = "/v1.0/appkeys/{appKey}/vehicle-plate"
CLOVA_GENERAL = "/custom/v1/{domainId}/{signature}/general"
# The jobs API (ocr_contract/jobs.py): submit, a job's status, and its result (a redirect to it).
JOBS = "/jobs"
JOB = "/jobs/{jobId}"
JOB_RESULT = "/jobs/{jobId}/result"
JOB_ROUTES = (JOBS, JOB, JOB_RESULT)
ROUTES = (GENERAL_OCR, NHN_GENERAL, NHN_CROPPING, NHN_VEHICLE_PLATE, CLOVA_GENERAL, *JOB_ROUTES)
# Every route takes POST but these (the jobs API's status and result).
GET_ROUTES = (JOB, JOB_RESULT)


def method_of(route: str) -> str:
    """The one HTTP method a route of ROUTES (a template or a request path) takes."""
    return "GET" if any(matches(template, route) for template in GET_ROUTES) else "POST"


# Request bodies API Gateway hands the Lambda base64-encoded, bytes intact (file uploads).
BINARY_MEDIA_TYPES = ("multipart/form-data",)


# What a `{param}` of a route matches in a request path: one segment, as API Gateway does.
_PARAM = r"[^/]{1,256}"


def matches(route: str, path: str) -> bool:
    """Whether `path` is `route` (a template) or a request path that API Gateway would route to
    it. API Gateway hands the Lambda the template itself in `resource`; a request path carries
    a custom domain's base path in front (`/ocr/general_ocr`), so it is only the fallback."""
    if path == route:
        return True
    pattern = "".join(_PARAM if part.startswith("{") else re.escape(part) for part in re.split(r"(\{\w+\})", route))
    return re.fullmatch(pattern, path) is not None
