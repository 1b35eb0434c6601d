"""OutboundClient against real loopback servers: hostile URLs never reach a canary; caps hold."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from loopback_http import PNG_BODY, FakeResolver, LoopbackServer

from pixelrun.net import NetworkPolicy, OutboundClient, OutboundFailed, OutboundRefused
from pixelrun.net.client import _pinned
from pixelrun.net.policy import check_url

CAP = 100_000


# ---------------------------------------------------------------- hostile table


@dataclass(frozen=True)
class Hostile:
    url: str  # {c}: canary port, {r}: port of the allowed redirector on 127.0.0.2
    reason: str  # expected in the refusal message
    redirect: bool = False  # refused on a redirect hop (post_json does not follow those)


HOSTILE = [
    Hostile("http://127.0.0.1:{c}/img", "address 127.0.0.1 is loopback"),
    Hostile("http://2130706433:{c}/img", "non-canonical numeric IPv4"),
    Hostile("http://0177.0.0.1:{c}/img", "read as 127.0.0.1"),
    Hostile("http://0x7f.0.0.1:{c}/img", "read as 127.0.0.1"),
    Hostile("http://0x7f000001:{c}/img", "read as 127.0.0.1"),
    Hostile("http://127.1:{c}/img", "read as 127.0.0.1"),
    Hostile("http://127.0.0.1.:{c}/img", "non-canonical numeric"),
    Hostile("http://[::1]:{c}/img", "loopback"),
    Hostile("http://[::ffff:127.0.0.1]:{c}/img", "IPv4-mapped"),
    Hostile("http://[::ffff:7f00:1]:{c}/img", "IPv4-mapped"),
    Hostile("http://[::]:{c}/img", "unspecified"),
    Hostile("http://[64:ff9b::7f00:1]:{c}/img", "embeds 127.0.0.1"),
    Hostile("http://[2002:7f00:1::]:{c}/img", "embeds 127.0.0.1"),
    Hostile("http://[fd00::1]/", "unique local"),
    Hostile("http://[fe80::1]/", "link-local"),
    Hostile("http://[fe80::1%25lo]:{c}/", "zone identifiers"),
    Hostile("http://169.254.169.254/latest/meta-data/", "link-local"),
    Hostile("http://0.0.0.0:{c}/img", "unspecified"),
    Hostile("http://100.64.0.1/", "CGNAT"),
    Hostile("http://224.0.0.1/", "multicast"),
    Hostile("http://255.255.255.255/", "broadcast"),
    Hostile("http://10.0.0.5/", "private (RFC 1918)"),
    Hostile("http://172.16.0.1/", "private (RFC 1918)"),
    Hostile("http://192.168.1.1/", "private (RFC 1918)"),
    Hostile("http://user:pass@127.0.0.2:{r}/img", "credentials"),
    Hostile("http://127.0.0.2:{r}@127.0.0.1:{c}/img", "credentials"),
    Hostile("http://127.0.0.2:{r}\\@127.0.0.1:{c}/img", "backslashes"),
    Hostile("file:///etc/passwd", "scheme 'file'"),
    Hostile("ftp://127.0.0.1:{c}/img", "scheme 'ftp'"),
    Hostile("gopher://127.0.0.1:{c}/_GET", "scheme 'gopher'"),
    Hostile("http://canary.test:{c}/img", "address 127.0.0.1 of host canary.test is loopback"),
    Hostile("http://localhost:{c}/img", "of host localhost is loopback"),
    Hostile("http://metadata.test/latest/", "169.254.169.254 of host metadata.test is link-local"),
    Hostile("http://mixed.test:{c}/img", "127.0.0.1 of host mixed.test is loopback"),
    Hostile("http://mapped.test:{c}/img", "IPv4-mapped"),
    Hostile("http://127.0.0.2:{r}/to?url=http://127.0.0.1:{c}/img", "loopback", redirect=True),
    Hostile(
        "http://127.0.0.2:{r}/to?url=http://canary.test:{c}/img", "canary.test is loopback", redirect=True
    ),
    Hostile("http://127.0.0.2:{r}/to?url=http://2130706433:{c}/img", "non-canonical", redirect=True),
    Hostile("http://127.0.0.2:{r}/to?url=http://[::ffff:127.0.0.1]:{c}/img", "IPv4-mapped", redirect=True),
    Hostile("http://127.0.0.2:{r}/to?url=file:///etc/passwd", "scheme 'file'", redirect=True),
    Hostile("http://127.0.0.2:{r}/to?url=//127.0.0.1:{c}/img&status=307", "loopback", redirect=True),
    Hostile(
        "http://127.0.0.2:{r}/to?url=http://127.0.0.2:{r}/to?url=http://10.0.0.5/",
        "private (RFC 1918)",
        redirect=True,
    ),
]
HOSTILE_RESOLVER = {
    "canary.test": ["127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["127.0.0.2", "127.0.0.1"],  # one allowed address is not enough
    "mapped.test": ["::ffff:127.0.0.2"],
}


@pytest.fixture
def canary(serve: Callable[[str], LoopbackServer]) -> LoopbackServer:
    return serve("127.0.0.1")


@pytest.fixture
def redirector(serve: Callable[[str], LoopbackServer]) -> LoopbackServer:
    return serve("127.0.0.2")


@pytest.fixture
def strict_client() -> OutboundClient:
    # Only the redirector's address is allowed; the canary's is not.
    policy = NetworkPolicy(allow_private=False, allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),))
    return OutboundClient(
        policy, connect_timeout=1.0, total_timeout=2.0, resolver=FakeResolver(HOSTILE_RESOLVER)
    )


def _format(case: Hostile, canary: LoopbackServer, redirector: LoopbackServer) -> str:
    url = case.url.format(c=canary.port, r=redirector.port)
    if "/to?url=" in url:  # the redirect target travels as one query value
        head, target = url.split("/to?url=", 1)
        target, _, status = target.partition("&status=")
        url = f"{head}/to?url={quote(target, safe='')}" + (f"&status={status}" if status else "")
    return url


def test_hostile_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 20


@pytest.mark.timeout(20)
def test_hostile_urls_are_refused_and_the_canary_hears_nothing(
    canary: LoopbackServer, redirector: LoopbackServer, strict_client: OutboundClient
) -> None:
    failures = []
    for case in HOSTILE:
        url = _format(case, canary, redirector)
        try:
            strict_client.fetch(url, max_bytes=CAP)
        except OutboundRefused as exc:
            if case.reason not in exc.reason:
                failures.append(f"{url}: unexpected reason {exc.reason!r}")
        except Exception as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{url}: was fetched")
        if canary.requests:
            failures.append(f"{url}: the canary received {canary.requests}")
            canary.requests.clear()
    assert not failures, "\n".join(failures)
    # The redirect cases did go through the allowed redirector (so the hop check is what refused).
    assert len(redirector.requests) == sum(case.redirect for case in HOSTILE) + 1  # +1: the nested hop


@pytest.mark.timeout(20)
def test_hostile_callback_urls_are_refused(
    canary: LoopbackServer, redirector: LoopbackServer, strict_client: OutboundClient
) -> None:
    async def post_all() -> list[tuple[str, object]]:
        results = []
        for case in HOSTILE:
            if case.redirect:
                continue
            url = _format(case, canary, redirector)
            results.append((url, await strict_client.post_json(url, b"{}", {})))
        return results

    for url, result in asyncio.run(post_all()):
        assert result.refused, url  # type: ignore[attr-defined]
        assert result.status_code is None and not result.retryable, url  # type: ignore[attr-defined]
    assert canary.requests == []
    assert redirector.requests == []


def test_dns_is_resolved_once_per_hop(serve: Callable[[str], LoopbackServer], canary: LoopbackServer) -> None:
    """DNS rebinding: the first answer is checked and used; a later answer is never consulted."""
    server = serve("127.0.0.2")

    class Rebinding(FakeResolver):
        def __call__(self, host: str, port: int) -> list[str]:
            self.calls.append(host)
            return ["127.0.0.2"] if len(self.calls) == 1 else ["127.0.0.1"]

    resolver = Rebinding({})
    policy = NetworkPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.2/32"),))
    client = OutboundClient(policy, 1.0, 2.0, resolver=resolver)
    result = client.fetch(f"http://rebind.test:{server.port}/img", max_bytes=CAP)
    assert result.content == PNG_BODY
    assert resolver.calls == ["rebind.test"]
    assert canary.requests == []


# ---------------------------------------------------------------- loopback allowed


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({"images.test": ["127.0.0.1"], "dual.test": ["::1", "127.0.0.1"]})


@pytest.fixture
def client(resolver: FakeResolver) -> OutboundClient:
    return OutboundClient(
        NetworkPolicy(allow_private=True), connect_timeout=1.0, total_timeout=1.0, resolver=resolver
    )


def test_fetch_succeeds(origin: LoopbackServer, client: OutboundClient) -> None:
    result = client.fetch(origin.url("/img"), max_bytes=CAP)
    assert (result.status_code, result.content_type, result.content) == (200, "image/png", PNG_BODY)
    assert result.final_url == origin.url("/img")
    assert origin.requests[0].headers["User-Agent"].startswith("Pixelrun/")


def test_host_header_is_the_original_name(origin: LoopbackServer, client: OutboundClient) -> None:
    result = client.fetch(f"http://images.test:{origin.port}/img?x=1", max_bytes=CAP)
    assert result.final_url == f"http://images.test:{origin.port}/img?x=1"
    assert origin.requests[0].headers["Host"] == f"images.test:{origin.port}"
    assert origin.requests[0].path == "/img?x=1"


def test_next_address_is_tried_when_one_refuses(origin: LoopbackServer, client: OutboundClient) -> None:
    # dual.test resolves to ::1 first, where nothing listens on this port (or nothing at all).
    assert client.fetch(f"http://dual.test:{origin.port}/img", max_bytes=CAP).content == PNG_BODY


def test_content_type_parameters_are_ignored(origin: LoopbackServer, client: OutboundClient) -> None:
    assert client.fetch(origin.url("/img-params"), max_bytes=CAP).content_type == "image/png"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/big", "over the 0.1 MB limit"),
        ("/big-stream", "over the 0.1 MB limit"),
        ("/short-body", "error reading the response"),
        ("/html", "content type 'text/html' is not allowed (expected image/)"),
        ("/no-type", "content type '(none)' is not allowed"),
        ("/status/404", "HTTP 404"),
        ("/status/500", "HTTP 500"),
        ("/status/204", "content type 'text/plain'"),
        ("/redirect-no-location", "without a Location"),
        ("/redirect/4", "too many redirects (more than 3)"),
    ],
)
def test_fetch_failures(origin: LoopbackServer, client: OutboundClient, path: str, reason: str) -> None:
    with pytest.raises(OutboundFailed) as info:
        client.fetch(origin.url(path), max_bytes=CAP)
    assert reason in info.value.reason


def test_streamed_body_is_aborted_at_the_cap(origin: LoopbackServer, client: OutboundClient) -> None:
    # The server would send 3.2 MB; the client stops reading just past the 100 kB cap.
    with pytest.raises(OutboundFailed, match="over the"):
        client.fetch(origin.url("/big-stream"), max_bytes=CAP)
    assert len(origin.requests) == 1


def test_body_beyond_content_length_is_never_read(origin: LoopbackServer, client: OutboundClient) -> None:
    assert client.fetch(origin.url("/lying-length"), max_bytes=CAP).content == b"\x00" * 10


def test_redirects_are_followed_up_to_the_limit(origin: LoopbackServer, client: OutboundClient) -> None:
    result = client.fetch(origin.url("/redirect/3"), max_bytes=CAP)
    assert result.content == PNG_BODY and result.final_url == origin.url("/img")
    assert [r.path for r in origin.requests] == [
        "/redirect/3",
        "/redirect/2",
        "/redirect/1",
        "/img",
    ]
    with pytest.raises(OutboundFailed, match="too many redirects"):
        client.fetch(origin.url("/redirect/2"), max_bytes=CAP, follow_redirects=1)
    with pytest.raises(OutboundFailed, match=r"more than 0"):
        client.fetch(origin.url("/redirect/1"), max_bytes=CAP, follow_redirects=0)


def test_redirect_location_is_resolved_against_the_original_name(
    origin: LoopbackServer, client: OutboundClient
) -> None:
    result = client.fetch(f"http://images.test:{origin.port}/redirect/1", max_bytes=CAP)
    assert result.final_url == f"http://images.test:{origin.port}/img"
    assert {r.headers["Host"] for r in origin.requests} == {f"images.test:{origin.port}"}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_slow_server_times_out_within_the_total_timeout(
    origin: LoopbackServer, client: OutboundClient, path: str
) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundFailed, match="timed out after 1s"):
        client.fetch(origin.url(path), max_bytes=CAP)
    assert 0.9 <= time.monotonic() - started < 2.0


def test_connection_refused_and_unknown_host(client: OutboundClient, closed_port: int) -> None:
    with pytest.raises(OutboundFailed, match="could not connect"):
        client.fetch(f"http://127.0.0.1:{closed_port}/img", max_bytes=CAP)
    with pytest.raises(OutboundFailed, match=re.escape("could not resolve host nowhere.test")):
        client.fetch("http://nowhere.test/img", max_bytes=CAP)


def test_https_is_pinned_with_the_name_as_server_name() -> None:
    target = check_url("https://images.example.com:8443/a.png?x=1")
    url, headers, extensions = _pinned(target, ipaddress.ip_address("2606:4700::1111"))
    assert url == "https://[2606:4700::1111]:8443/a.png?x=1"
    assert headers["Host"] == "images.example.com:8443"
    assert extensions == {"sni_hostname": "images.example.com"}
    url, headers, extensions = _pinned(check_url("http://example.com/"), ipaddress.ip_address("8.8.8.8"))
    assert (url, headers["Host"], extensions) == ("http://8.8.8.8:80/", "example.com", {})


# ---------------------------------------------------------------- callbacks


def _post(client: OutboundClient, url: str, timeout: float | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run(
        client.post_json(url, b'{"event":"run.completed"}', {"Runflow-Request-Id": "req_1"}, timeout=timeout)
    )


def test_post_json_2xx(origin: LoopbackServer, client: OutboundClient) -> None:
    for status in (200, 204):
        result = _post(client, f"http://images.test:{origin.port}/cb/{status}")
        assert (result.status_code, result.error, result.ok, result.refused) == (status, None, True, False)
        assert result.elapsed_ms >= 0
    seen = origin.requests[0]
    assert (seen.method, seen.body) == ("POST", b'{"event":"run.completed"}')
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Runflow-Request-Id"] == "req_1"
    assert seen.headers["Host"] == f"images.test:{origin.port}"


def test_post_json_never_follows_redirects(origin: LoopbackServer, client: OutboundClient) -> None:
    result = _post(client, origin.url("/cb/302"))
    assert result.status_code == 302 and not result.ok and not result.retryable
    assert result.error is not None and "not followed" in result.error
    assert [r.path for r in origin.requests] == ["/cb/302"]


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (404, False), (400, False)])
def test_post_json_error_statuses(
    origin: LoopbackServer, client: OutboundClient, status: int, retryable: bool
) -> None:
    result = _post(client, origin.url(f"/cb/{status}"))
    assert (result.status_code, result.error, result.ok, result.retryable) == (
        status,
        f"HTTP {status}",
        False,
        retryable,
    )


@pytest.mark.timeout(10)
def test_post_json_timeout(origin: LoopbackServer, client: OutboundClient) -> None:
    started = time.monotonic()
    result = _post(client, origin.url("/slow"), timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert result.status_code is None and result.retryable
    assert result.error == "timed out after 0.5s"
    assert 400 <= result.elapsed_ms < 1500


def test_post_json_network_errors_are_retryable(client: OutboundClient, closed_port: int) -> None:
    result = _post(client, f"http://127.0.0.1:{closed_port}/cb/200")
    assert result.status_code is None and result.retryable and not result.refused
    assert result.error is not None and "ConnectError" in result.error
    result = _post(client, "http://nowhere.test/cb/200")
    assert result.retryable and result.error is not None and "could not resolve" in result.error


def test_post_json_refusal_is_final() -> None:
    result = _post(OutboundClient(NetworkPolicy()), "http://10.0.0.5/hook")
    assert result.refused and not result.retryable and result.status_code is None
    assert result.error is not None and "private (RFC 1918)" in result.error
