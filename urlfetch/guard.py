"""Which URLs the frontend may fetch, and the address each fetch must connect to.

Every host is resolved once, here, and every address it resolves to must be a public one; the
caller then connects to that checked address (never resolving again), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot reach an internal service.
Resolution through getaddrinfo also turns every spelling of an address into its canonical
form (2130706433, 0x7f000001, 0177.0.0.1 and 127.1 are all 127.0.0.1), so there are no
spellings to forget.

"Public" is decided by explicit lists of IANA's special-purpose ranges, not by the `ipaddress`
module's flags, whose answers change between Python versions (site-local fec0::/10, say).
Refusals never name the address a host resolved to: the fetcher must not tell a caller what
an internal name resolves to, or which internal ports answer. Only ports 80 and 443 are
fetched unless the deployment allows more (ALLOWED_URL_PORTS).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from ocr_contract import ApiError, ErrorCode

# Test-only: the end-to-end tests serve images from 127.0.0.1 on any port. Never set in a
# deployment (tests/test_infra.py checks every deployed function's environment).
ALLOW_LOOPBACK_ENV = "OCR_TEST_ALLOW_LOOPBACK_URLS"
ALLOWED_PORTS_ENV = "ALLOWED_URL_PORTS"
DEFAULT_PORTS = frozenset({80, 443})

# IANA IPv4 Special-Purpose Address Registry, every entry, plus multicast and the rest of
# 240/4: none of them hosts a public image.
_IPV4_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local: the instance metadata service, ECS credentials
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.31.196.0/24",  # AS112-v4
        "192.52.193.0/24",  # AMT
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "192.175.48.0/24",  # direct delegation AS112 service
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
    )
)
# IANA IPv6 Special-Purpose Address Registry, plus what lies outside global unicast 2000::/3
# (unique-local, link-local, site-local, multicast...). Addresses that embed an IPv4 address
# (mapped, NAT64) are judged by that address instead, see _embedded_ipv4.
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_IPV6_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT...
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4
        "2620:4f:8000::/48",  # AS112-v6
        "3fff::/20",  # documentation
    )
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

# getaddrinfo cannot be interrupted, so it runs on a worker thread and is waited for with the
# fetch's deadline; a slow resolver then costs the request its deadline, not the Lambda's life.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dns")
DNS_TIMEOUT_S = 4.0

_NOT_PUBLIC = "is not a public address; only public http(s) addresses may be fetched"


@dataclass(frozen=True)
class Target:
    scheme: str  # http | https
    host: str  # ASCII (IDNA) form, for the Host header, SNI and certificate checks
    port: int
    path: str  # path and query, percent-encoded, as sent on the request line
    address: str  # the checked IP address to connect to


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, NAT64), which is what is reached."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _loopback_allowed() -> bool:
    return os.environ.get(ALLOW_LOOPBACK_ENV) == "1"


def is_public(address: str) -> bool:
    """Whether an address may be fetched from: outside every special-purpose range."""
    if "%" in address:  # a scoped (zone) IPv6 address is link-local by nature
        return False
    if _loopback_allowed() and _is_loopback(address):
        return True
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_public(str(inner))
        return ip in _IPV6_GLOBAL_UNICAST and not any(ip in net for net in _IPV6_SPECIAL)
    return not any(ip in net for net in _IPV4_SPECIAL)


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in _LOOPBACK if net.version == ip.version)


def allowed_ports() -> frozenset[int]:
    ports = set(DEFAULT_PORTS)
    for item in os.environ.get(ALLOWED_PORTS_ENV, "").split(","):
        if item.strip().isdigit():
            ports.add(int(item))
    return frozenset(ports)


def resolve(host: str, port: int, timeout_s: float = DNS_TIMEOUT_S) -> list[str]:
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(0.01, min(timeout_s, DNS_TIMEOUT_S)))
    except FutureTimeout:
        raise ApiError(ErrorCode.URL_FETCH_FAILED, f"the host {host!r} could not be resolved in time") from None
    except (OSError, UnicodeError):
        raise ApiError(ErrorCode.URL_FETCH_FAILED, f"the host {host!r} could not be resolved") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# What a browser leaves alone in a URL's path and query: RFC 3986's unreserved and reserved
# characters and existing escapes. Everything else (non-ASCII as UTF-8, quotes, braces...)
# is percent-encoded, so `http://host/发票.png` is fetched as `/%E5%8F%91%E7%A5%A8.png`.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def percent_encode(text: str | bytes) -> str:
    """Percent-encode what may not appear raw on an HTTP request line, as browsers do."""
    return quote(text, safe=_URL_SAFE)


def _ascii_host(host: str) -> str:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ApiError(
            ErrorCode.INVALID_URL, "the URL's host name is not a valid internationalised domain name"
        ) from None


def check_http_url(url: str, timeout_s: float = DNS_TIMEOUT_S) -> Target:
    """Validate an http(s) URL and pick the checked address to connect to."""
    if any(c in url for c in "\r\n\t ") or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise ApiError(ErrorCode.INVALID_URL, "the URL contains whitespace or control characters; percent-encode them")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise ApiError(ErrorCode.INVALID_URL, f"the URL is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ApiError(
            ErrorCode.INVALID_URL, f"URL scheme {parts.scheme or '(none)'!r} is not supported; use http, https or s3"
        )
    if not host:
        raise ApiError(ErrorCode.INVALID_URL, "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ApiError(ErrorCode.INVALID_URL, "credentials in URLs are not supported")
    if "%" in host:
        raise ApiError(ErrorCode.URL_NOT_ALLOWED, f"the URL's host {host!r} {_NOT_PUBLIC}")
    host = _ascii_host(host)
    port = port or (443 if scheme == "https" else 80)
    port_allowed = port in allowed_ports()
    refused_port = ApiError(
        ErrorCode.URL_NOT_ALLOWED,
        f"port {port} may not be fetched; use port 80 or 443 (the deployment's allowedUrlPorts setting adds others)",
    )
    if not port_allowed and not _loopback_allowed():
        raise refused_port  # before any DNS query or connection
    addresses = resolve(host, port, timeout_s)
    if not all(is_public(address) for address in addresses):
        raise ApiError(ErrorCode.URL_NOT_ALLOWED, f"the URL's host {host!r} {_NOT_PUBLIC}")
    if not port_allowed and not all(map(_is_loopback, addresses)):
        raise refused_port
    path = percent_encode(parts.path or "/")
    if parts.query:
        path += "?" + percent_encode(parts.query)
    return Target(scheme, host, port, path, addresses[0])
