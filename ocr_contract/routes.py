"""The API's routes, written once: API Gateway's resources (infra/ocr_api.py) and the local
gateway's (local/gateway.py) are made from this list. Each is answered by a door in
frontend/doors/."""

GENERAL_OCR = "/general_ocr"
NHN_GENERAL = "/v1.0/appkeys/{appKey}/general"
NHN_CROPPING = "/v1.0/appkeys/{appKey}/general/cropping"
NHN_VEHICLE_PLATE = "/v1.0/appkeys/{appKey}/vehicle-plate"
CLOVA_GENERAL = "/custom/v1/{domainId}/{signature}/general"
ROUTES = (GENERAL_OCR, NHN_GENERAL, NHN_CROPPING, NHN_VEHICLE_PLATE, CLOVA_GENERAL)

# Request bodies API Gateway hands the Lambda base64-encoded, bytes intact (file uploads).
BINARY_MEDIA_TYPES = ("multipart/form-data",)
