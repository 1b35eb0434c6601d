"""Address rules for outbound requests: which URLs and resolved addresses may be contacted.

The host is resolved once and every address is checked; the client then connects to a
checked address itself, so a second (rebinding) DNS answer is never consulted.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pixelrun.net.errors import OutboundFailed, OutboundRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> address strings; injectable so tests can make a name resolve anywhere.
Resolver = Callable[[str, int], Sequence[str]]

ALLOW_HINT = "set PIXELRUN_ALLOW_PRIVATE_URLS=1 to allow"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_LENGTH = 8192

_N4 = ipaddress.IPv4Network
_N6 = ipaddress.IPv6Network
# Checked in order before ``is_global``: explicit so the rules do not depend on the Python
# version's ipaddress tables, and so the message can name the rule.
_FORBIDDEN: tuple[tuple[IPNetwork, str], ...] = (
    (_N4("0.0.0.0/8"), "unspecified / 'this network' (0.0.0.0/8)"),
    (_N4("10.0.0.0/8"), "private (RFC 1918)"),
    (_N4("100.64.0.0/10"), "shared address space (CGNAT, RFC 6598)"),
    (_N4("127.0.0.0/8"), "loopback"),
    (_N4("169.254.0.0/16"), "link-local (includes cloud metadata 169.254.169.254)"),
    (_N4("172.16.0.0/12"), "private (RFC 1918)"),
    (_N4("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"),
    (_N4("192.0.2.0/24"), "documentation (TEST-NET-1)"),
    (_N4("192.88.99.0/24"), "6to4 relay anycast (192.88.99.0/24)"),
    (_N4("192.168.0.0/16"), "private (RFC 1918)"),
    (_N4("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"),
    (_N4("198.51.100.0/24"), "documentation (TEST-NET-2)"),
    (_N4("203.0.113.0/24"), "documentation (TEST-NET-3)"),
    (_N4("224.0.0.0/4"), "multicast"),
    (_N4("255.255.255.255/32"), "broadcast"),
    (_N4("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
    (_N6("::/128"), "unspecified (::)"),
    (_N6("::1/128"), "loopback (::1)"),
    (_N6("::ffff:0:0/96"), "IPv4-mapped IPv6"),
    (_N6("::/96"), "IPv4-compatible IPv6 (deprecated)"),
    (_N6("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
    (_N6("100::/64"), "discard-only (100::/64)"),
    (_N6("2001::/32"), "Teredo (2001::/32)"),
    (_N6("2001:db8::/32"), "documentation (2001:db8::/32)"),
    (_N6("3fff::/20"), "documentation (3fff::/20)"),
    (_N6("5f00::/16"), "SRv6 SIDs (5f00::/16)"),
    (_N6("fc00::/7"), "unique local (ULA, fc00::/7)"),
    (_N6("fe80::/10"), "link-local"),
    (_N6("fec0::/10"), "site-local (deprecated)"),
    (_N6("ff00::/8"), "multicast"),
)
# Never meaningful as a destination, even where private addresses are allowed.
_NEVER = ("unspecified", "multicast", "broadcast")
_NAT64 = _N6("64:ff9b::/96")
_SIXTOFOUR = _N6("2002::/16")

_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_NUMERIC_PART = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


@dataclass(frozen=True)
class NetworkPolicy:
    """Off by default: only globally routable addresses may be contacted.

    ``allow_private`` lifts the rule (private deployments, tests on loopback);
    ``allowed_networks`` are permitted even when it is off.
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_private: bool, allowed_networks: Iterable[str] = ()) -> NetworkPolicy:
        """Build from config strings (``"10.1.0.0/16"``, ``"fd00::/8"``); ``ValueError`` on a bad one."""
        return cls(
            allow_private=allow_private,
            allowed_networks=tuple(ipaddress.ip_network(n.strip(), strict=False) for n in allowed_networks),
        )


@dataclass(frozen=True)
class ParsedTarget:
    """A checked URL split into the parts the client needs to pin the connection."""

    scheme: str
    host: str  # lowercase ASCII (IDNA) name, or an IP address without brackets
    port: int
    path: str  # path plus "?query"; never empty
    ip: IPAddress | None = None  # set when the host is an IP literal

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if self.ip is not None and self.ip.version == 6 else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"


def _numeric_ipv4_meaning(host: str) -> str | None:
    """If ``host`` is an IPv4 address in a form other than dotted decimal, what inet_aton reads."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    # WHATWG URL rule: a host whose last label is numeric is an IPv4 address.
    if not parts or not _NUMERIC_PART.fullmatch(parts[-1]):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(".".join(parts)))
    except OSError:
        return "an invalid IPv4 address"


def _parse_host(raw: str) -> tuple[str, IPAddress | None]:
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise OutboundRefused("malformed IPv6 host (missing ']')")
        inner = raw[1:-1]
        if "%" in inner:
            raise OutboundRefused("IPv6 zone identifiers are not allowed in URLs")
        try:
            ip6 = ipaddress.IPv6Address(inner)
        except ValueError:
            raise OutboundRefused(f"malformed IPv6 host {raw!r}") from None
        return str(ip6), ip6
    host = raw.lower()
    if not host:
        raise OutboundRefused("URL has no host")
    try:
        ip4 = ipaddress.IPv4Address(host)
    except ValueError:
        pass
    else:
        return str(ip4), ip4
    meaning = _numeric_ipv4_meaning(host)
    if meaning is not None:
        raise OutboundRefused(
            f"host {raw!r} is a non-canonical numeric IPv4 form (read as {meaning}); "
            "write IPv4 addresses in dotted decimal"
        )
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise OutboundRefused(f"host {raw!r} is not a valid domain name") from None
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise OutboundRefused(f"host {raw!r} is not a valid domain name")
    return host, None


def check_url(url: str) -> ParsedTarget:
    """Syntax rules: http(s) only, a valid host, no credentials, a port in 1..65535."""
    if len(url) > _MAX_URL_LENGTH:
        raise OutboundRefused(f"URL is longer than {_MAX_URL_LENGTH} characters")
    if any(c <= " " or c in "\\\x7f" for c in url):
        # Whitespace, control characters and backslashes are parsed differently by different
        # URL parsers; refusing them removes the ambiguity.
        raise OutboundRefused("URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL"
        raise OutboundRefused(f"malformed URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OutboundRefused(f"scheme {parts.scheme or '(none)'!r} is not allowed; only http and https")
    netloc = parts.netloc
    if "@" in netloc:
        raise OutboundRefused("credentials in URLs are not allowed")
    if not netloc:
        raise OutboundRefused("URL has no host")
    match = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*)(?::([^:]*))?", netloc)
    if match is None:
        raise OutboundRefused(f"malformed host and port {netloc!r}")
    raw_host, raw_port = match.group(1), match.group(2)
    host, ip = _parse_host(raw_host)
    if raw_port is None or raw_port == "":
        port = _DEFAULT_PORTS[scheme]
    elif re.fullmatch(r"[0-9]{1,5}", raw_port) and 1 <= int(raw_port) <= 65535:
        port = int(raw_port)
    else:
        raise OutboundRefused(f"invalid port {raw_port!r}")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return ParsedTarget(scheme=scheme, host=host, port=port, path=path, ip=ip)


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination, or None when it is globally routable."""
    for net, reason in _FORBIDDEN:
        if ip.version == net.version and ip in net:
            return reason
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address are judged by it.
        embedded: ipaddress.IPv4Address | None = None
        if ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip in _SIXTOFOUR:
            embedded = ip.sixtofour
        if embedded is not None:
            inner = forbidden_reason(embedded)
            if inner is not None:
                return f"embeds {embedded}, which is {inner}"
    if not ip.is_global:
        return "not globally routable"
    return None


def check_address(ip: IPAddress, host: str, policy: NetworkPolicy) -> None:
    """Raise ``OutboundRefused`` unless ``policy`` lets the client connect to ``ip``."""
    if any(ip.version == net.version and ip in net for net in policy.allowed_networks):
        return
    reason = forbidden_reason(ip)
    if reason is None:
        return
    if policy.allow_private and not reason.startswith(_NEVER):
        return
    where = f"address {ip}" if str(ip) == host else f"address {ip} of host {host}"
    hint = "" if reason.startswith(_NEVER) else f"; {ALLOW_HINT}"
    raise OutboundRefused(f"{where} is {reason}{hint}")


def system_resolver(host: str, port: int) -> list[str]:
    """``getaddrinfo`` for TCP; the addresses in the order the system prefers."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def resolve_and_check(
    host: str, port: int, policy: NetworkPolicy, *, resolver: Resolver | None = None
) -> list[IPAddress]:
    """Resolve ``host`` once; refuse if ANY address is forbidden (no partial answers)."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, host, policy)
        return [literal]
    try:
        raw = (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise OutboundFailed(f"could not resolve host {host}: {exc}") from None
    addresses: list[IPAddress] = []
    for item in raw:
        try:
            ip = ipaddress.ip_address(item.split("%", 1)[0])
        except ValueError:
            raise OutboundRefused(f"host {host} resolved to an unusable address {item!r}") from None
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OutboundFailed(f"host {host} has no addresses")
    for ip in addresses:
        check_address(ip, host, policy)
    return addresses
