"""URL fetching cannot reach private, loopback, link-local or metadata addresses, however spelled."""
import pytest

from frontend import http_fetch
from frontend.http_fetch import fetch_http
from frontend.url_guard import ALLOW_LOOPBACK_ENV, Target, check_http_url, refusal_reason
from ocr_contract import ApiError
from tests.conftest import fixture_bytes
from tests.httpfixtures import ImageServer

REFUSED_URLS = [
    "http://127.0.0.1/a.png",
    "http://localhost/a.png",
    "http://2130706433/a.png",           # decimal
    "http://0x7f000001/a.png",           # hex
    "http://0x7f.0.0.1/a.png",
    "http://0177.0.0.1/a.png",           # octal
    "http://127.1/a.png",                # short form
    "http://127.0.1/a.png",
    "http://[::1]/a.png",
    "http://[::ffff:127.0.0.1]/a.png",   # IPv4-mapped
    "http://[::ffff:7f00:1]/a.png",
    "http://[::ffff:169.254.169.254]/",
    "http://169.254.169.254/latest/meta-data/",   # instance metadata
    "http://[fd00:ec2::254]/latest/meta-data/",   # IPv6 instance metadata (ULA)
    "http://169.254.170.2/v2/credentials",        # ECS task credentials
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/",
    "http://100.64.0.1/",                # carrier-grade NAT
    "http://0.0.0.0/", "http://0/",
    "http://224.0.0.1/", "http://[ff02::1]/",    # multicast
    "http://240.0.0.1/", "http://255.255.255.255/",  # reserved, broadcast
    "http://[fe80::1]/",                 # link-local
    "http://[fc00::1]/",                 # unique local
    "http://[2002:7f00:1::]/",           # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a00:1]/",          # NAT64 wrapping 10.0.0.1
    "http://[::127.0.0.1]/",             # IPv4-compatible
    "https://192.0.2.1/", "http://198.18.0.1/",  # documentation, benchmarking
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_addresses(url, monkeypatch):
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    with pytest.raises(ApiError) as info:
        check_http_url(url)
    assert info.value.code.value == "UrlNotAllowed", info.value.message


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert refusal_reason(address) is None


def test_public_literal_url_is_accepted_without_network():
    target = check_http_url("https://8.8.8.8:8443/img.png?x=1")
    assert (target.scheme, target.port, target.path, target.address) == ("https", 8443, "/img.png?x=1", "8.8.8.8")


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://x/", "http://",
                                 "http:///path", "https://user:pw@example.com/a.png", "http://exa mple.com/",
                                 "http://[::1/", "http://example.com:99999/", "javascript:alert(1)"])
def test_invalid_urls(url):
    with pytest.raises(ApiError) as info:
        check_http_url(url)
    assert info.value.code.value == "InvalidUrl"


def test_unresolvable_host_is_a_fetch_failure():
    with pytest.raises(ApiError) as info:
        check_http_url("http://no-such-host.invalid/a.png")
    assert info.value.code.value == "UrlFetchFailed"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    with ImageServer({"line.png": fixture_bytes("line.png")}) as srv:
        yield srv


def fetch_code(url):
    with pytest.raises(ApiError) as info:
        fetch_http(url)
    return info.value.code.value, info.value.message


def test_fetches_and_follows_up_to_three_redirects(server):
    assert fetch_http(server.base + "/file/line.png") == fixture_bytes("line.png")
    assert fetch_http(server.base + "/redirect/3") == fixture_bytes("line.png")
    code, message = fetch_code(server.base + "/redirect/4")
    assert code == "UrlFetchFailed" and "redirected more than 3" in message


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/x.png",
                                    "http://[::ffff:192.168.0.1]/", "file:///etc/passwd"])
def test_redirect_to_a_refused_address_is_refused(server, target):
    code, _ = fetch_code(f"{server.base}/to?url={target}")
    assert code in ("UrlNotAllowed", "InvalidUrl")
    if target.startswith("http"):
        assert code == "UrlNotAllowed"


def test_errors_say_what_happened(server, monkeypatch):
    assert fetch_code(server.base + "/status/404") == ("UrlFetchFailed", "the URL answered HTTP 404 Not Found")
    assert "20971520 bytes" in fetch_code(server.base + "/big-length")[1]
    assert "over 10485760 bytes" in fetch_code(server.base + "/huge")[1]
    monkeypatch.setattr(http_fetch, "TOTAL_TIMEOUT_S", 1.0)
    code, message = fetch_code(server.base + "/slow")
    assert code == "UrlFetchFailed" and "too slow" in message


def test_read_timeout(server, monkeypatch):
    monkeypatch.setattr(http_fetch, "READ_TIMEOUT_S", 0.01)
    monkeypatch.setattr(http_fetch, "TOTAL_TIMEOUT_S", 30)
    code, message = fetch_code(server.base + "/slow")
    assert code == "UrlFetchFailed" and "too slow" in message


def test_connection_goes_to_the_checked_address_not_a_new_lookup(server):
    # The host name does not resolve at all: the only way this works is by connecting to the
    # address that was checked, which is what stops DNS rebinding.
    target = Target("http", "rebinding.invalid", server.port, "/file/line.png", "127.0.0.1")
    status, _, body = http_fetch._get_once(target, deadline=float("inf"))
    assert status == 200 and body == fixture_bytes("line.png")


def test_loopback_needs_the_test_switch(monkeypatch):
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    assert refusal_reason("127.0.0.1") == "a loopback address"
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    assert refusal_reason("127.0.0.1") is None
    assert refusal_reason("10.0.0.1") == "a private address"  # the switch allows loopback only
