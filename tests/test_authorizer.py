"""The REQUEST authorizer: each API's secret header becomes the usage plan's key; an unknown
key is denied with a body in that API's own error shape."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from frontend import authorizer
from frontend.authorizer import ERROR_BODY_HEAD
from infra.ocr_api import AUTHORIZER_ERROR_TEMPLATE
from ocr_contract.routes import ROUTES, matches

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/general_ocr"
KEYS = {
    "items": [
        {"id": "k1", "value": "good-key-0123456789", "enabled": True},
        {"id": "k2", "value": "revoked-key-987654321", "enabled": False},
    ]
}


@pytest.fixture
def apigateway(monkeypatch):
    client = boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(boto3, "client", lambda name, **kw: client)
    monkeypatch.setitem(authorizer._keys, "at", -1e9)
    with Stubber(client) as stub:
        stub.add_response("get_api_keys", KEYS, {"includeValues": True})
        yield stub


def event(path, headers, request_id="req-1", resource=None):
    """A REQUEST authorizer event as API Gateway sends it: `resource` is the route's template."""
    resource = resource or next(route for route in ROUTES if matches(route, path))
    return {
        "type": "REQUEST",
        "methodArn": ARN,
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "requestContext": {"requestId": request_id, "resourcePath": resource},
    }


def gateway_response(answer: dict, request_id: str) -> dict:
    """The ACCESS_DENIED body API Gateway writes from the template: $context variables replaced
    as they are (no escaping), the authorizer's context from the (possibly cached) deny."""
    body = AUTHORIZER_ERROR_TEMPLATE.replace(
        f"$context.authorizer.{ERROR_BODY_HEAD}", answer["context"][ERROR_BODY_HEAD]
    )
    return json.loads(body.replace("$context.requestId", request_id))


@pytest.mark.parametrize(
    "path, header",
    [
        ("/general_ocr", "x-api-key"),
        ("/v1.0/appkeys/app/general", "Authorization"),
        ("/v1.0/appkeys/app/general/cropping", "Authorization"),
        ("/custom/v1/1/sig/general", "X-OCR-SECRET"),
    ],
)
def test_each_apis_secret_header_is_handed_to_the_usage_plan(apigateway, path, header):
    answer = authorizer.handler(event(path, {header: "good-key-0123456789"}), None)
    assert answer["usageIdentifierKey"] == "good-key-0123456789"
    (statement,) = answer["policyDocument"]["Statement"]
    # Cached per key for every route of the stage, so it allows the stage, not one method.
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*",
    }


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/v1.0/appkeys/app/general", {"Authorization": "wrong"}),
        ("/v1.0/appkeys/app/general", {"Authorization": "revoked-key-987654321"}),
        ("/v1.0/appkeys/app/general", {"x-api-key": "good-key-0123456789"}),  # NHN's secret goes in Authorization
        ("/custom/v1/1/sig/general", {"X-OCR-SECRET": "wrong"}),
        ("/general_ocr", {"x-api-key": 'wr"ong\\'}),
    ],
)
def test_unknown_keys_are_denied_in_the_called_apis_own_shape(apigateway, path, headers):
    answer = authorizer.handler(event(path, headers), None)
    assert "usageIdentifierKey" not in answer
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    # The ACCESS_DENIED gateway response completes the authorizer's body with the request's id.
    body = gateway_response(answer, "req-1")
    if path.startswith("/v1.0/"):
        assert body["header"] == {
            "isSuccessful": False,
            "resultCode": -51,
            "resultMessage": body["header"]["resultMessage"],
        }
    elif path.startswith("/custom/"):
        assert body["code"] == "Forbidden" and body["message"]
    else:
        assert body["error"]["code"] == "Forbidden" and body["requestId"] == "req-1"
    assert 'wr\\"ong' not in answer["context"][ERROR_BODY_HEAD] and "wrong" not in answer["context"][ERROR_BODY_HEAD]


def test_a_cached_deny_gives_each_caller_its_own_request_id(apigateway):
    # API Gateway caches the first answer for a header value (5 minutes) and serves it to every
    # later request with the same value: nothing of the first request may be in it.
    first = authorizer.handler(event("/general_ocr", {"x-api-key": "wrong"}, request_id="first-request"), None)
    later = gateway_response(first, "later-request")
    assert later["requestId"] == "later-request"
    assert "first-request" not in json.dumps(first)
    for path in ("/v1.0/appkeys/app/general", "/custom/v1/1/sig/general"):
        answer = authorizer.handler(event(path, {"x-api-key": "x"}, request_id="first-request"), None)
        assert gateway_response(answer, "later-request")["requestId"] == "later-request"


@pytest.mark.parametrize(
    "path, resource, header",
    [
        ("/ocr/general_ocr", "/general_ocr", "x-api-key"),
        ("/ocr/v1.0/appkeys/app/general", "/v1.0/appkeys/{appKey}/general", "Authorization"),
        ("/v2/custom/v1/1/sig/general", "/custom/v1/{domainId}/{signature}/general", "X-OCR-SECRET"),
    ],
)
def test_behind_a_custom_domain_the_route_not_the_path_decides_the_header(apigateway, path, resource, header):
    # A custom domain's base path mapping (`ocr` -> this API) puts its prefix in `path`; the
    # route's template is in `resource` and `requestContext.resourcePath`.
    answer = authorizer.handler(event(path, {header: "good-key-0123456789"}, resource=resource), None)
    assert answer["usageIdentifierKey"] == "good-key-0123456789"


def test_an_allowed_callers_principal_is_its_keys_id_never_its_value(apigateway):
    # The Lambda reads requestContext.authorizer.principalId to tell callers apart (whose jobs
    # they may see): each key is its own principal, and the secret itself is not handed on.
    answer = authorizer.handler(event("/general_ocr", {"x-api-key": "good-key-0123456789"}), None)
    assert answer["principalId"] == "apiKeyId:k1"
    assert "good-key-0123456789" not in answer["principalId"]
