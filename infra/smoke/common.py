"""What every part of the smoke test shares: its constants and its error."""

from __future__ import annotations

from pathlib import Path

from ocr_contract.routes import (
    CLOVA_GENERAL,
    GENERAL_OCR,
    JOB,
    JOBS,
    NHN_CROPPING,
    NHN_GENERAL,
    NHN_VEHICLE_PLATE,
)

# The result of a job: GET /jobs/{jobId}/result on the API (a 303 to a presigned S3 URL in AWS).
JOB_RESULT = JOB + "/result"

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULT_STACK = "ZhOcrEndpoint"
# The header each route takes its secret in (frontend/doors/*.py SECRET_HEADER; the smoke runs
# where only the CDK's requirements are installed, so it does not import the doors).
SECRET_HEADERS = {
    GENERAL_OCR: "x-api-key",
    NHN_GENERAL: "Authorization",
    NHN_CROPPING: "Authorization",
    NHN_VEHICLE_PLATE: "Authorization",
    CLOVA_GENERAL: "X-OCR-SECRET",
    JOBS: "x-api-key",
    JOB: "x-api-key",
    JOB_RESULT: "x-api-key",
}
# The ids in the NHN and CLOVA paths are accepted and ignored.
PATH_IDS = {"appKey": "smoke", "domainId": "smoke", "signature": "smoke"}
# The fixtures and what each must be read as (NFKC, without spaces).
RECEIPT, RECEIPT_TEXT = "receipt.png", "08215563"
PLATE, PLATE_TEXT = "two_row_plate.png", "粤B12345"
# The job's PDF, page by page: (fixture, text the page must be read as).
JOB_PAGES = (("receipt.png", "08215563"), ("line.png", "识别测试"), ("hello_world.png", "Helloworld"))
PDF_DPI = 150
REQUEST_TIMEOUT_S = 60
JOB_TIMEOUT_S = 1200
PRESIGN_SECONDS = 900
MAX_REDIRECTS = 3


class SmokeError(Exception):
    """The smoke test cannot start: the message says what to do."""
