"""Address rules without any network: URL syntax, address classes, resolution."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence

import pytest

from pixelrun.net import (
    NetworkPolicy,
    OutboundFailed,
    OutboundRefused,
    Resolver,
    check_address,
    check_url,
    forbidden_reason,
    resolve_and_check,
)

STRICT = NetworkPolicy()


def test_check_url_splits_the_parts() -> None:
    t = check_url("HTTPS://Images.Example.COM/a/b.png?x=1&y=%20#frag")
    assert (t.scheme, t.host, t.port, t.path, t.ip) == (
        "https",
        "images.example.com",
        443,
        "/a/b.png?x=1&y=%20",
        None,
    )
    assert t.host_header == "images.example.com"
    assert t.url == "https://images.example.com/a/b.png?x=1&y=%20"
    t = check_url("http://example.com:8080")
    assert (t.port, t.path, t.host_header) == (8080, "/", "example.com:8080")
    t = check_url("http://[2606:4700::1111]:81/x")
    assert t.ip == ipaddress.ip_address("2606:4700::1111")
    assert t.host_header == "[2606:4700::1111]:81"
    assert check_url("http://bücher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("ftp://example.com/", "scheme 'ftp' is not allowed"),
        ("gopher://example.com/", "scheme 'gopher' is not allowed"),
        ("//example.com/", "scheme '(none)'"),
        ("example.com/a.png", "scheme '(none)'"),
        ("http://user:pass@example.com/", "credentials"),
        ("http://user@example.com/", "credentials"),
        ("http://example.com\\@10.0.0.1/", "backslashes"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/\nHost: x", "control characters"),
        ("http:///path", "no host"),
        ("http://:80/", "no host"),
        ("http://example.com:0/", "invalid port"),
        ("http://example.com:65536/", "invalid port"),
        ("http://example.com:+80/", "invalid port"),
        ("http://example.com:8o/", "invalid port"),
        ("http://example.com:80:80/", "malformed host and port"),
        ("http://[::1/", "malformed"),
        ("http://[fe80::1%25eth0]/", "zone identifiers"),
        ("http://[not-v6]/", "malformed"),
        ("http://2130706433/", "non-canonical numeric IPv4 form (read as 127.0.0.1)"),
        ("http://0177.0.0.1/", "read as 127.0.0.1"),
        ("http://0x7f.0.0.1/", "read as 127.0.0.1"),
        ("http://0x7f000001/", "read as 127.0.0.1"),
        ("http://127.1/", "read as 127.0.0.1"),
        ("http://10.1/", "read as 10.0.0.1"),
        ("http://127.0.0.1./", "non-canonical numeric"),
        ("http://999.1.1.1/", "invalid IPv4"),
        ("http://a..b/", "not a valid domain name"),
        ("http://-a.example/", "not a valid domain name"),
        ("http://" + "a" * 64 + ".example/", "not a valid domain name"),
        ("http://example.com/" + "a" * 9000, "longer than"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused) as info:
        check_url(url)
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.5", "private (RFC 1918)"),
        ("172.16.0.1", "private (RFC 1918)"),
        ("172.31.255.255", "private (RFC 1918)"),
        ("192.168.1.1", "private (RFC 1918)"),
        ("169.254.169.254", "link-local (includes cloud metadata"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.0.8", "IETF protocol assignments"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "IPv4-mapped"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("fd00::1", "unique local"),
        ("fc00::1", "unique local"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("64:ff9b::a00:1", "embeds 10.0.0.1, which is private"),
        ("64:ff9b::7f00:1", "embeds 127.0.0.1, which is loopback"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2002:a9fe:a9fe::1", "embeds 169.254.169.254"),
        ("100::1", "discard-only"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    got = forbidden_reason(ipaddress.ip_address(address))
    assert got is not None and reason in got


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_refusal_message_names_the_rule_and_the_setting() -> None:
    with pytest.raises(OutboundRefused) as info:
        check_address(ipaddress.ip_address("10.0.0.5"), "example.internal", STRICT)
    assert info.value.reason == (
        "address 10.0.0.5 of host example.internal is private (RFC 1918); "
        "set PIXELRUN_ALLOW_PRIVATE_URLS=1 to allow"
    )


def test_allow_private_and_allowed_networks() -> None:
    open_policy = NetworkPolicy(allow_private=True)
    for address in ("127.0.0.1", "10.0.0.5", "fd00::1", "169.254.169.254", "::1"):
        check_address(ipaddress.ip_address(address), address, open_policy)
    # Never a real destination, whatever the setting.
    for address in ("0.0.0.0", "224.0.0.1", "::", "ff02::1", "255.255.255.255"):
        with pytest.raises(OutboundRefused):
            check_address(ipaddress.ip_address(address), address, open_policy)
    listed = NetworkPolicy.from_settings(False, ["10.1.0.0/16", " fd12::/16 "])
    check_address(ipaddress.ip_address("10.1.2.3"), "h", listed)
    check_address(ipaddress.ip_address("fd12::5"), "h", listed)
    with pytest.raises(OutboundRefused):
        check_address(ipaddress.ip_address("10.2.0.1"), "h", listed)
    with pytest.raises(ValueError):
        NetworkPolicy.from_settings(False, ["not-a-network"])


def _resolver(table: dict[str, Sequence[str]]) -> Resolver:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def test_resolve_and_check() -> None:
    resolver = _resolver(
        {
            "public.test": ["8.8.8.8", "2606:4700::1111", "8.8.8.8"],
            "internal.test": ["10.0.0.5"],
            "mixed.test": ["8.8.8.8", "127.0.0.1"],
            "empty.test": [],
            "garbage.test": ["not-an-ip"],
        }
    )
    got = resolve_and_check("public.test", 80, STRICT, resolver=resolver)
    assert [str(ip) for ip in got] == ["8.8.8.8", "2606:4700::1111"]
    with pytest.raises(OutboundRefused, match=re.escape("address 10.0.0.5 of host internal.test is private")):
        resolve_and_check("internal.test", 80, STRICT, resolver=resolver)
    with pytest.raises(OutboundRefused, match=re.escape("127.0.0.1 of host mixed.test is loopback")):
        resolve_and_check("mixed.test", 80, STRICT, resolver=resolver)
    with pytest.raises(OutboundFailed, match=re.escape("could not resolve host nowhere.test")):
        resolve_and_check("nowhere.test", 80, STRICT, resolver=resolver)
    with pytest.raises(OutboundFailed, match="no addresses"):
        resolve_and_check("empty.test", 80, STRICT, resolver=resolver)
    with pytest.raises(OutboundRefused, match="unusable address"):
        resolve_and_check("garbage.test", 80, STRICT, resolver=resolver)
    # IP literals never reach the resolver.
    with pytest.raises(OutboundRefused, match=re.escape("address 127.0.0.1 is loopback")):
        resolve_and_check("127.0.0.1", 80, STRICT, resolver=resolver)


def test_system_resolver_on_localhost() -> None:
    with pytest.raises(OutboundRefused, match="loopback"):
        resolve_and_check("localhost", 80, STRICT)
