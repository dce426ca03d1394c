"""Which URLs the frontend may fetch, and the address each fetch must connect to.

Every host is resolved once, here, and every address it resolves to must be a public one; the
caller then connects to that checked address (never resolving again), so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot reach an internal service.
Resolution through getaddrinfo also turns every spelling of an address into its canonical
form (2130706433, 0x7f000001, 0177.0.0.1 and 127.1 are all 127.0.0.1), so there are no
spellings to forget.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ocr_contract import ApiError, ErrorCode

# Test-only: the end-to-end tests serve images from 127.0.0.1. Never set in a deployment.
ALLOW_LOOPBACK_ENV = "OCR_TEST_ALLOW_LOOPBACK_URLS"

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


@dataclass(frozen=True)
class Target:
    scheme: str        # http | https
    host: str          # as written, for the Host header, SNI and certificate checks
    port: int
    path: str          # path and query, as sent on the request line
    address: str       # the checked IP address to connect to


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped, compatible, 6to4, NAT64, Teredo)."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def refusal_reason(address: str) -> str | None:
    """Why this address may not be fetched from, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = refusal_reason(str(inner))
            return f"{reason} (inside IPv6 {ip})" if reason else None
        if "%" in address:
            return "a scoped IPv6 address"
    if ip.is_loopback:
        if os.environ.get(ALLOW_LOOPBACK_ENV) == "1":
            return None
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (this includes the instance metadata service)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a non-public address"
    return None


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ApiError(ErrorCode.URL_FETCH_FAILED, f"the host {host!r} could not be resolved ({exc})") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_http_url(url: str) -> Target:
    """Validate an http(s) URL and pick the checked address to connect to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ApiError(ErrorCode.INVALID_URL, f"the URL is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ApiError(ErrorCode.INVALID_URL, f"URL scheme {parts.scheme or '(none)'!r} is not supported; use http, https or s3")
    host = parts.hostname
    if not host:
        raise ApiError(ErrorCode.INVALID_URL, "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ApiError(ErrorCode.INVALID_URL, "credentials in URLs are not supported")
    if any(c in url for c in "\r\n\t ") or any(ord(c) < 32 for c in url):
        raise ApiError(ErrorCode.INVALID_URL, "the URL contains whitespace or control characters; percent-encode them")
    port = port or (443 if scheme == "https" else 80)
    if "%" in host:
        raise ApiError(ErrorCode.URL_NOT_ALLOWED, f"the URL's host {host!r} is a scoped IPv6 address, which may not be fetched")
    addresses = resolve(host, port)
    for address in addresses:
        reason = refusal_reason(address)
        if reason:
            raise ApiError(ErrorCode.URL_NOT_ALLOWED,
                           f"the URL's host {host!r} resolves to {address}, {reason}; only public addresses may be fetched")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port, path, addresses[0])
