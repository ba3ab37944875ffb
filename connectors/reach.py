"""Where a connection may reach: public addresses only, unless the operator allows private ones.

A connection's URL is written by a person, and an OpenAPI document or an OAuth
server may name other hosts; left open, a connection becomes a way into the
machine's own network: loopback services, the cloud metadata endpoint
(169.254.169.254), private ranges. Every request of a guarded client is checked
against the addresses its host resolves to, at the moment it is sent (redirects
included), so a name that resolves to a private address later is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx


class PrivateAddress(httpx.ConnectError):
    """A request to a loopback, link-local, private or otherwise non-public address was refused."""


# NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d is the IPv4 address a.b.c.d reached
# through a NAT64 gateway, which Python counts as global whatever that address is.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _non_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `ip` is not on the public internet; an IPv6 address that carries an IPv4 one
    (mapped, NAT64, 6to4) is judged by the IPv4 address it reaches."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        elif ip.sixtofour is not None and _non_public(ip.sixtofour):
            return True
    return not ip.is_global or ip.is_multicast


def literal_problem(host: str) -> str | None:
    """Why `host` is not public by its spelling alone (an address or a local name), or None."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return "has no host"
    if name == "localhost" or name.endswith(".localhost"):
        return f"{host} is this machine (loopback)"
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None
    return f"{host} is a loopback, link-local or private address" if _non_public(ip) else None


def resolved_problem(host: str, addresses: list[str]) -> str | None:
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            continue
        if _non_public(ip):
            return f"{host} resolves to {ip}, a loopback, link-local or private address"
    return None


def url_problem(url: str, *, resolve: bool = True) -> str | None:
    """Why a URL may not be reached from a guarded client, or None (names that do not resolve pass:
    the request itself is checked again when it is sent)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    host = parts.hostname or ""
    if (why := literal_problem(host)) is not None:
        return why
    try:
        port = parts.port
    except ValueError:
        return "has a port out of range (0-65535)"
    if not resolve:
        return None
    try:
        infos = socket.getaddrinfo(host, port or None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return None
    return resolved_problem(host, [str(info[4][0]) for info in infos])


def _addresses(infos: list[Any]) -> list[str]:
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


MAX_PINNED = 4  # addresses of one name tried in turn when the ones before could not be reached


def _pinned(request: httpx.Request, addresses: list[str]) -> list[httpx.Request]:
    """`request` refused if its host resolved to any non-public address. A plain-http one is
    then sent to an address checked, under its name (the Host header httpx set), so the
    connection does not look the name up again: a name answering a public address to the check
    and a private one to the connection (DNS rebinding) gets no second answer. One request per
    address, in the resolver's order, for a connection that cannot be made to the first (as the
    connection layer itself tries a name's addresses in turn). An https one goes by its name: a
    second answer pointing inside meets a server without the name's certificate, and TLS fails
    before anything is sent (pinning it would also let connection pools keyed by address reuse
    one name's TLS session for another's request). A host that is an address, or a name that
    resolved to nothing, goes as it is (the connection then fails to resolve it)."""
    host = request.url.host
    if (why := resolved_problem(host, addresses)) is not None:
        raise PrivateAddress(f"refused to connect: {why}", request=request)
    if request.url.scheme != "http" or not addresses or _is_address(host):
        return [request]
    in_memory = isinstance(request.stream, httpx.ByteStream)  # a streamed body is sent once only
    pinned = []
    for address in list(dict.fromkeys(addresses))[: MAX_PINNED if in_memory else 1]:
        one = httpx.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        if in_memory:
            one.read()  # a body in memory stays readable as `content`, as it was
        pinned.append(one)
    return pinned


# Nothing was sent: the next address of the name may be tried.
_NOT_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _form_problem(request: httpx.Request) -> str | None:
    """Why the request's URL is refused before any look-up (scheme, literal host, port)."""
    return url_problem(str(request.url), resolve=False)


class PublicOnlySyncTransport(httpx.BaseTransport):
    """The same refusal for a blocking client: what a connection reads while it is built (an
    OpenAPI document at a URL), every redirect of it checked, and pinned, as it is followed."""

    def __init__(self, inner: httpx.BaseTransport | None = None):
        self.inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (why := _form_problem(request)) is not None:
            raise PrivateAddress(f"refused to connect: {why}", request=request)
        try:
            infos = socket.getaddrinfo(request.url.host, request.url.port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, OSError):
            infos = []  # the connection itself reports a name that does not resolve
        *others, last = _pinned(request, _addresses(infos))
        for one in others:
            try:
                return self.inner.handle_request(one)
            except _NOT_CONNECTED:
                continue
        return self.inner.handle_request(last)

    def close(self) -> None:
        self.inner.close()


# Where PublicOnlyTransport leaves the addresses it checked, for PinnedTransport to send to.
CHECKED = "switchboard.checked_addresses"


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """Refuses requests whose host is, or resolves to, a non-public address, before any retry
    (outermost); the rest go on with the addresses checked, which PinnedTransport (innermost,
    under the retries and the circuit breaker) sends to."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if (why := _form_problem(request)) is not None:
            raise PrivateAddress(f"refused to connect: {why}", request=request)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                request.url.host, request.url.port, proto=socket.IPPROTO_TCP
            )
        except (socket.gaierror, UnicodeError, OSError):
            infos = []  # the connection itself reports a name that does not resolve
        addresses = _addresses(infos)
        if (why := resolved_problem(request.url.host, addresses)) is not None:
            raise PrivateAddress(f"refused to connect: {why}", request=request)
        request.extensions[CHECKED] = addresses
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends each attempt of a request PublicOnlyTransport checked to the addresses it checked
    (`_pinned`), the next when none could be connected to: one attempt, however many addresses
    it tried, as the retries and the circuit breaker above count it."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        checked = request.extensions.get(CHECKED)
        if checked is None:
            return await self.inner.handle_async_request(request)
        *others, last = _pinned(request, list(checked))
        for one in others:
            try:
                return await self.inner.handle_async_request(one)
            except _NOT_CONNECTED:
                continue
        return await self.inner.handle_async_request(last)

    async def aclose(self) -> None:
        await self.inner.aclose()
