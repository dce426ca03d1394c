"""URL fetching cannot reach private, loopback, link-local or metadata addresses, however spelled,
nor take longer than its deadline, whatever the peer does."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ocr_contract import ApiError
from tests.conftest import fixture_bytes
from tests.httpfixtures import ImageServer
from urlfetch import fetch as http_fetch
from urlfetch.fetch import fetch_http
from urlfetch.guard import ALLOW_LOOPBACK_ENV, ALLOWED_PORTS_ENV, Target, check_http_url, is_public

REFUSED_URLS = [
    "http://127.0.0.1/a.png",
    "http://localhost/a.png",
    "http://2130706433/a.png",  # decimal
    "http://0x7f000001/a.png",  # hex
    "http://0x7f.0.0.1/a.png",
    "http://0177.0.0.1/a.png",  # octal
    "http://127.1/a.png",  # short form
    "http://127.0.1/a.png",
    "http://[::1]/a.png",
    "http://[::ffff:127.0.0.1]/a.png",  # IPv4-mapped
    "http://[::ffff:7f00:1]/a.png",
    "http://[::ffff:169.254.169.254]/",
    "http://169.254.169.254/latest/meta-data/",  # instance metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # IPv6 instance metadata (ULA)
    "http://169.254.170.2/v2/credentials",  # ECS task credentials
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://0/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",  # multicast
    "http://240.0.0.1/",
    "http://255.255.255.255/",  # reserved, broadcast
    "http://[fe80::1]/",  # link-local
    "http://[fc00::1]/",  # unique local
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 wrapping 10.0.0.1
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "https://192.0.2.1/",
    "http://198.18.0.1/",  # documentation, benchmarking
    "http://[fec0::1]/",  # site-local (deprecated, still routable inside networks)
    "http://[2001:db8::1]/",  # documentation
    "http://[2001::1]/",  # Teredo
    "http://[100::1]/",  # discard-only
    "http://192.88.99.1/",
    "http://192.0.0.8/",  # 6to4 relay anycast, IETF assignments
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_addresses(url, monkeypatch):
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    with pytest.raises(ApiError) as info:
        check_http_url(url)
    assert info.value.code.value == "UrlNotAllowed", info.value.message


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address):
    assert is_public(address)


@pytest.mark.parametrize(
    "address",
    [
        "fec0::1",
        "fed0::1",
        "feff::1",
        "fe80::1",
        "fc00::1",
        "fd12::1",
        "ff0e::1",
        "::",
        "::1",
        "100::1",
        "2001:db8::1",
        "2002:808:808::1",
        "3fff::1",
        "10.0.0.1",
        "100.127.255.255",
        "192.31.196.1",
        "192.52.193.1",
        "192.175.48.1",
        "198.51.100.1",
        "203.0.113.1",
        "255.255.255.255",
        "64:ff9b::a00:1",
    ],
)
def test_special_purpose_ranges_are_refused_on_every_python(address, monkeypatch):
    # Decided by explicit IANA ranges: `ipaddress`'s is_private/is_global flags for fec0::/10 and
    # others differ between Python versions.
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    assert not is_public(address)


def test_public_literal_url_is_accepted_without_network():
    target = check_http_url("https://8.8.8.8/img.png?x=1")
    assert (target.scheme, target.port, target.path, target.address) == ("https", 443, "/img.png?x=1", "8.8.8.8")


@pytest.mark.parametrize(
    "url", ["http://8.8.8.8:22/", "http://8.8.8.8:25/a.png", "https://8.8.8.8:6379/", "http://8.8.8.8:8080/"]
)
def test_only_ports_80_and_443_by_default(url, monkeypatch):
    monkeypatch.delenv(ALLOWED_PORTS_ENV, raising=False)
    with pytest.raises(ApiError) as info:
        check_http_url(url)
    assert info.value.code.value == "UrlNotAllowed" and "port" in info.value.message


def test_more_ports_through_the_deployment_setting(monkeypatch):
    monkeypatch.setenv(ALLOWED_PORTS_ENV, "8080,8443")
    assert check_http_url("https://8.8.8.8:8443/x.png").port == 8443
    with pytest.raises(ApiError):
        check_http_url("http://8.8.8.8:22/")


def test_refusals_do_not_name_the_internal_address(monkeypatch):
    # A public-looking name that resolves inside: the answer must not tell the caller where.
    monkeypatch.delenv(ALLOW_LOOPBACK_ENV, raising=False)
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80))]
    )
    with pytest.raises(ApiError) as info:
        check_http_url("http://intranet.example.com/a.png")
    assert info.value.code.value == "UrlNotAllowed"
    assert "10.1.2.3" not in info.value.message and "private" not in info.value.message
    assert "not a public address" in info.value.message


def test_non_ascii_paths_are_percent_encoded_as_browsers_do():
    target = check_http_url("http://8.8.8.8/发票 2024.png".replace(" ", "%20") + "?名=值")
    assert target.path == "/%E5%8F%91%E7%A5%A8%202024.png?%E5%90%8D=%E5%80%BC"
    assert target.path.isascii()


def test_internationalised_host_names_are_sent_as_idna(monkeypatch):
    seen = {}

    def fake_getaddrinfo(host, port, **kwargs):
        seen["host"] = host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    target = check_http_url("http://例子.测试/a.png")
    assert seen["host"] == target.host == "xn--fsqu00a.xn--0zwm56d"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://x/",
        "http://",
        "http:///path",
        "https://user:pw@example.com/a.png",
        "http://exa mple.com/",
        "http://[::1/",
        "http://example.com:99999/",
        "javascript:alert(1)",
    ],
)
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
    with ImageServer({"line.png": fixture_bytes("line.png"), "发票.png": fixture_bytes("line.png")}) as srv:
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


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x.png",
        "http://[::ffff:192.168.0.1]/",
        "file:///etc/passwd",
    ],
)
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
    assert not is_public("127.0.0.1") and not is_public("::1")
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    assert is_public("127.0.0.1") and is_public("::1")
    assert not is_public("10.0.0.1") and not is_public("169.254.169.254")  # the switch allows loopback only


def test_non_ascii_file_names_and_redirect_targets_are_fetched(server):
    # `http://host/发票.png` is what this service's users send; a server's Location header in raw
    # UTF-8 is what many send back.
    assert fetch_http(server.base + "/file/发票.png") == fixture_bytes("line.png")
    assert fetch_http(server.base + "/raw-location?to=/file/发票.png") == fixture_bytes("line.png")


def test_a_content_length_of_non_ascii_digits_is_not_a_crash(server):
    # "²".isdigit() is True but int("²") raises: this was a 500. RFC 9110 8.6: Content-Length is
    # ASCII digits; anything else is no usable length, and the body runs to the connection's end.
    assert fetch_http(server.base + "/odd-length") == fixture_bytes("line.png")


def test_https_host_header_has_no_default_port(server):
    # An https connection's Host header: RFC 9110 7.2 says the port is left out when it is the
    # scheme's default. The TLS layer is skipped here; the header is http.client's either way.
    conn = http_fetch._PinnedHTTPSConnection(Target("https", "example.com", 443, "/host", "127.0.0.1"), float("inf"))
    conn.connect = lambda: setattr(
        conn, "sock", http_fetch._DeadlineSocket(socket.create_connection(("127.0.0.1", server.port)), float("inf"))
    )
    conn.request("GET", "/host")
    assert conn.getresponse().read() == b"example.com"


def test_hostile_peers_are_cut_off_at_the_deadline(monkeypatch):
    # Each of these keeps a client with per-read timeouts only busy for 18-40 s, or forever: every
    # wait is shorter than the per-read timeout. Production's timings (5 s per read, a 12 s
    # deadline, a header byte every 2 s, redirects 4.5 s apart) scaled down ten times; all four
    # run at once, and each must end at the whole fetch's deadline.
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    monkeypatch.setattr(http_fetch, "READ_TIMEOUT_S", 1.0)
    monkeypatch.setattr(http_fetch, "TOTAL_TIMEOUT_S", 1.2)
    paths = ["/trickle-headers", "/continue-flood", "/trickle-chunks", "/slow-redirect/3"]

    def timed(path):
        start = time.monotonic()
        outcome = fetch_code(server.base + path)
        return outcome, time.monotonic() - start

    with (
        ImageServer({"line.png": fixture_bytes("line.png")}, hop_delay=0.5, pace=0.1) as server,
        ThreadPoolExecutor(len(paths)) as pool,
    ):
        results = dict(zip(paths, pool.map(timed, paths)))
    for path, ((code, message), elapsed) in results.items():
        # The whole fetch's deadline ended it, not a read that waited too long.
        assert code == "UrlFetchFailed" and "did not arrive within" in message, (path, message)
        assert elapsed < 1.2 + 1.0, (path, elapsed)


def test_dns_waits_no_longer_than_the_deadline(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(3))
    start = time.monotonic()
    with pytest.raises(ApiError) as info:
        check_http_url("http://slow-dns.example.com/a.png", timeout_s=0.5)
    assert info.value.code.value == "UrlFetchFailed" and time.monotonic() - start < 2
