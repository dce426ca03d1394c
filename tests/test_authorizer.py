"""The REQUEST authorizer: each API's secret header becomes the usage plan's key; an unknown
key is denied with a body in that API's own error shape."""
import json

import boto3
import pytest
from botocore.stub import Stubber

from frontend import authorizer

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/general_ocr"
KEYS = {"items": [{"id": "k1", "value": "good-key-0123456789", "enabled": True},
                  {"id": "k2", "value": "revoked-key-987654321", "enabled": False}]}


@pytest.fixture
def apigateway(monkeypatch):
    client = boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(boto3, "client", lambda name, **kw: client)
    monkeypatch.setitem(authorizer._keys, "at", -1e9)
    with Stubber(client) as stub:
        stub.add_response("get_api_keys", KEYS, {"includeValues": True})
        yield stub


def event(path, headers):
    return {"type": "REQUEST", "methodArn": ARN, "path": path, "httpMethod": "POST", "headers": headers,
            "requestContext": {"requestId": "req-1"}}


@pytest.mark.parametrize("path, header", [
    ("/general_ocr", "x-api-key"),
    ("/v1.0/appkeys/app/general", "Authorization"),
    ("/v1.0/appkeys/app/general/cropping", "Authorization"),
    ("/custom/v1/1/sig/general", "X-OCR-SECRET"),
])
def test_each_apis_secret_header_is_handed_to_the_usage_plan(apigateway, path, header):
    answer = authorizer.handler(event(path, {header: "good-key-0123456789"}), None)
    assert answer["usageIdentifierKey"] == "good-key-0123456789"
    statement, = answer["policyDocument"]["Statement"]
    # Cached per key for every route of the stage, so it allows the stage, not one method.
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow",
                         "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*"}


@pytest.mark.parametrize("path, headers", [
    ("/v1.0/appkeys/app/general", {"Authorization": "wrong"}),
    ("/v1.0/appkeys/app/general", {"Authorization": "revoked-key-987654321"}),
    ("/v1.0/appkeys/app/general", {"x-api-key": "good-key-0123456789"}),  # NHN's secret goes in Authorization
    ("/custom/v1/1/sig/general", {"X-OCR-SECRET": "wrong"}),
    ("/general_ocr", {"x-api-key": 'wr"ong\\'}),
])
def test_unknown_keys_are_denied_in_the_called_apis_own_shape(apigateway, path, headers):
    answer = authorizer.handler(event(path, headers), None)
    assert "usageIdentifierKey" not in answer
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    # The ACCESS_DENIED gateway response prints errorBody as it is: it must be the whole JSON body.
    body = json.loads(answer["context"]["errorBody"])
    if path.startswith("/v1.0/"):
        assert body["header"] == {"isSuccessful": False, "resultCode": -51, "resultMessage": body["header"]["resultMessage"]}
    elif path.startswith("/custom/"):
        assert body["code"] == "Forbidden" and body["message"]
    else:
        assert body["error"]["code"] == "Forbidden" and body["requestId"] == "req-1"
    assert "wr\\\"ong" not in answer["context"]["errorBody"] and "wrong" not in answer["context"]["errorBody"]  # never echoed
