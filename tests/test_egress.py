"""The egress guard (gateway/egress.py).

Connections are only ever attempted to loopback. Other ranges are tested on the guard's
decision with a stub resolver: a refusal is raised before any connect, and ``check_url``
never connects at all.
"""

from __future__ import annotations

import gzip
import ipaddress
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import text

from gateway.egress import (
    EgressPolicy,
    EgressRefused,
    GuardedClient,
    Origin,
    ResponseTooLarge,
    blocked_reason,
    parse_allowlist,
)
from tests.documents.support import complete_task, deliveries, document, enable_portal, task_completed


class LoopbackServer:
    """A tiny HTTP server on 127.0.0.1 that records what reaches it."""

    def __init__(
        self,
        redirect_to: str | None = None,
        body: bytes = b"hello",
        length: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        seen: list[tuple[str, str]] = []
        self.seen = seen
        self.received: list[tuple[str, str, bytes]] = []  # POST and PUT: method, headers, body
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("host", "")))
                if redirect_to:
                    self.send_response(302)
                    self.send_header("location", redirect_to)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if length:
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                sent = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append((self.command, str(self.headers), sent))
                self.do_GET()

            def do_PUT(self) -> None:
                self.do_POST()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as s:
        yield s


def policy(*allow: str, resolver: dict[str, list[str]] | None = None, **kwargs: object) -> EgressPolicy:
    if resolver is None:
        return EgressPolicy(allow=parse_allowlist(allow), allow_http=True, **kwargs)  # type: ignore[arg-type]
    answers = resolver

    async def stub(host: str, port: int) -> list[str]:
        return answers[host]

    return EgressPolicy(allow=parse_allowlist(allow), allow_http=True, resolver=stub, **kwargs)  # type: ignore[arg-type]


# --- connections, loopback only ---------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "[::1]", "0.0.0.0", "2130706433", "127.1", "[::ffff:127.0.0.1]", "localhost"],  # noqa: S104
)
async def test_loopback_spellings_are_refused(server: LoopbackServer, host: str) -> None:
    async with policy().client() as http:
        with pytest.raises(EgressRefused) as refused:
            await http.get(f"http://{host}:{server.port}/metrics")
    assert refused.value.code == "egress_refused"
    assert server.seen == []  # refused before connecting


async def test_allowlisted_port_is_reached_and_others_on_the_host_are_not(server: LoopbackServer) -> None:
    async with policy(f"127.0.0.1:{server.port}").client() as http:
        assert (await http.get(f"{server.url}/ok")).text == "hello"
        with pytest.raises(EgressRefused):
            await http.get(f"http://127.0.0.1:{server.port + 1 if server.port < 65535 else 1}/")
    assert [path for path, _ in server.seen] == ["/ok"]


async def test_redirect_to_a_refused_port_is_refused(server: LoopbackServer) -> None:
    with LoopbackServer(redirect_to=f"{server.url}/secret") as front:
        async with policy(f"127.0.0.1:{front.port}").client(follow_redirects=True) as http:
            with pytest.raises(EgressRefused):
                await http.get(f"{front.url}/doc")
        async with policy(f"127.0.0.1:{front.port}").client() as http:
            assert (await http.get(f"{front.url}/doc")).status_code == 302  # not followed unless asked
    assert [path for path, _ in front.seen] == ["/doc", "/doc"]
    assert server.seen == []


async def test_connects_to_the_address_it_checked(server: LoopbackServer) -> None:
    # The name resolves (stub) to the allowlisted loopback address; TLS/Host still name the host.
    guard = policy(f"127.0.0.1:{server.port}", resolver={"partner.test": ["127.0.0.1"]})
    async with guard.client() as http:
        assert (await http.get(f"http://partner.test:{server.port}/x")).status_code == 200
    assert server.seen == [("/x", f"partner.test:{server.port}")]


async def test_a_name_rebound_after_the_configuration_check_is_refused_at_connect(server: LoopbackServer) -> None:
    answers = {"rebind.test": ["93.184.216.34"]}
    guard = policy("127.0.0.1/32", resolver=answers)
    await guard.check_url(f"http://rebind.test:{server.port}/")  # decides only: no connection
    answers["rebind.test"] = ["127.0.0.2"]  # the attacker's DNS now points inside
    async with guard.client() as http:
        with pytest.raises(EgressRefused, match=r"127\.0\.0\.2 is loopback"):
            await http.get(f"http://rebind.test:{server.port}/")
    assert server.seen == []


@pytest.mark.parametrize("length", [True, False])
async def test_response_bodies_are_capped(length: bool) -> None:
    with LoopbackServer(body=b"x" * 5000, length=length) as big:
        async with policy(f"127.0.0.1:{big.port}", max_response_bytes=4096).client() as http:
            with pytest.raises(ResponseTooLarge):
                await http.get(big.url)
            ok = await http.get(big.url, extensions={"ponte_max_response_bytes": 5000})
            assert len(ok.content) == 5000


async def test_bytes_sent_through_the_pool_are_guarded_read_and_not_redirected(server: LoopbackServer) -> None:
    # send_bytes (the portal client's path) skips httpx's request and response objects, not the guard.
    with LoopbackServer(body=b"x" * 100_000, length=True) as big, LoopbackServer(redirect_to=server.url) as front:
        guard = policy(f"127.0.0.1:{big.port}", f"127.0.0.1:{front.port}", max_response_bytes=200_000)
        async with guard.client() as http:
            assert isinstance(http, GuardedClient)
            timeout = http.timeout.as_dict()
            read = await http.send_bytes(Origin.of(f"{big.url}/api/"), b"GET", b"/doc?a=1", [], None, timeout)
            assert (read[0], len(read[1])) == (200, 100_000)
            assert big.seen == [("/api/doc?a=1", f"127.0.0.1:{big.port}")]
            assert (await http.send_bytes(Origin.of(front.url), b"GET", b"/", [], None, timeout))[0] == 302
            with pytest.raises(EgressRefused):
                await http.send_bytes(Origin.of(server.url), b"GET", b"/secret", [], None, timeout)
    assert server.seen == []


async def test_bytes_sent_carry_exactly_the_headers_given_and_the_body_length(server: LoopbackServer) -> None:
    async with policy(f"127.0.0.1:{server.port}").client() as http:
        timeout = http.timeout.as_dict()
        origin = Origin.of(server.url)
        await http.send_bytes(origin, b"POST", b"/up", [(b"X-Portal-Employee", b"Ana")], b"%PDF", timeout)
        await http.send_bytes(origin, b"PUT", b"/up", [], None, timeout)
    [(post, post_headers, post_body), (put, put_headers, put_body)] = server.received
    assert (post, post_body, put, put_body) == ("POST", b"%PDF", "PUT", b"")
    assert "X-Portal-Employee: Ana" in post_headers and "Content-Length: 4" in post_headers
    assert "Content-Length: 0" in put_headers  # as httpx sends an empty POST or PUT
    assert "User-Agent" not in post_headers  # nothing the caller did not give


@pytest.mark.parametrize("length", [True, False])
async def test_bytes_answers_are_capped(length: bool) -> None:
    with LoopbackServer(body=b"x" * 5000, length=length) as big:
        async with policy(f"127.0.0.1:{big.port}", max_response_bytes=4096).client() as http:
            with pytest.raises(ResponseTooLarge):
                await http.send_bytes(Origin.of(big.url), b"GET", b"/", [], None, http.timeout.as_dict())


async def test_bytes_answers_are_decoded_and_plain_http_needs_the_setting(server: LoopbackServer) -> None:
    with LoopbackServer(body=gzip.compress(b"hello"), headers={"Content-Encoding": "gzip"}) as zipped:
        async with policy(f"127.0.0.1:{zipped.port}").client() as http:
            answer = await http.send_bytes(Origin.of(zipped.url), b"GET", b"/", [], None, http.timeout.as_dict())
    assert answer == (200, b"hello")
    guard = EgressPolicy(allow=parse_allowlist([f"127.0.0.1:{server.port}"]))
    async with guard.client() as http:
        with pytest.raises(EgressRefused, match="only https"):
            await http.send_bytes(Origin.of(server.url), b"GET", b"/", [], None, http.timeout.as_dict())
    assert server.seen == []


async def test_a_transport_error_on_bytes_sent_is_httpx_s() -> None:
    with LoopbackServer() as gone:
        port = gone.port  # closed when the block ends: nothing listens there afterwards
    async with policy(f"127.0.0.1:{port}").client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.send_bytes(Origin.of(f"http://127.0.0.1:{port}"), b"GET", b"/", [], None, http.timeout.as_dict())


async def test_plain_http_needs_the_setting(server: LoopbackServer) -> None:
    guard = EgressPolicy(allow=parse_allowlist([f"127.0.0.1:{server.port}"]))
    async with guard.client() as http:
        with pytest.raises(EgressRefused, match="only https"):
            await http.get(server.url)
    assert server.seen == []


# --- decisions on other ranges, stub resolver, no connection ------------------------------------

REFUSED = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.100.100.200",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "fd00::1",
    "fd00:ec2::254",
    "fe80::1",
    "::",
    "::1",
    "ff02::1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "::a00:1",  # IPv4-compatible (deprecated) form
]


@pytest.mark.parametrize("address", REFUSED)
async def test_private_link_local_and_metadata_are_refused(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None
    guard = policy(resolver={"inside.test": [address]})
    with pytest.raises(EgressRefused):
        await guard.check_url("https://inside.test/")
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(EgressRefused):
        await guard.check_url(f"https://{literal}/")
    async with guard.client() as http:  # at send time the refusal comes before any connect
        with pytest.raises(EgressRefused):
            await http.get("https://inside.test/latest/meta-data/")


async def test_public_addresses_pass_and_only_checked_ones_are_kept() -> None:
    guard = policy(resolver={"partner.test": ["93.184.216.34", "10.0.0.1", "2606:2800:220:1::1"]})
    await guard.check_url("https://partner.test/api")
    assert await guard.addresses("partner.test", 443) == ["93.184.216.34", "2606:2800:220:1::1"]


@pytest.mark.parametrize("url", ["ftp://partner.test/", "file:///etc/passwd", "gopher://partner.test/", "notaurl"])
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(EgressRefused):
        await policy(resolver={"partner.test": ["93.184.216.34"]}).check_url(url)


def test_allowlist_entries() -> None:
    [net, hostport, v6] = parse_allowlist(["10.1.0.0/16", "localhost:8090", "[::1]:8090"])
    ip = ipaddress.ip_address
    assert net.admits("anything", 1, ip("10.1.2.3")) and not net.admits("x", 1, ip("10.2.0.1"))
    assert hostport.admits("LOCALHOST", 8090, ip("127.0.0.1")) and not hostport.admits("localhost", 8091, ip("::1"))
    assert v6.admits("[::1]", 8090, ip("::1")) and not v6.admits("x", 8090, ip("::2"))
    with pytest.raises(ValueError, match="neither"):
        parse_allowlist(["sandbox"])


# --- configuration time and task time -----------------------------------------------------------


async def test_configured_addresses_are_checked_with_a_pointer(client, tenants) -> None:
    t = await tenants.create()
    cases = [
        ("PUT", "/v1/portal/connection", {"token": "sandbox-x", "base_url": "http://169.254.169.254/core"}),
        ("PUT", "/v1/document-portal/integration", {"enabled": False, "base_url": "http://[::ffff:10.0.0.1]/portal"}),
        (
            "POST",
            "/v1/insurer-connections",
            {"insurer": "allianz", "credentials": {"username": "u", "password": "p"}, "base_url": "http://10.0.0.8/"},
        ),
    ]
    for method, path, body in cases:
        response = await client.request(method, path, json=body, headers=t.headers)
        assert response.status_code == 422, (path, response.text)
        problem = response.json()
        assert [e["pointer"] for e in problem["errors"]] == ["/base_url"], (path, problem)
        assert "refused" in problem["detail"]


async def test_a_refused_content_url_fails_the_delivery_with_egress_refused(
    client, tenants, runtime, worker, sandbox
) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    doc = document("d1", content=b"unused")
    doc.pop("content_base64")
    doc["content_url"] = f"http://[::1]:{sandbox.port}/portal/_content/{uuid.uuid4().hex}"  # ::1 is not allowed
    await complete_task(runtime, t, task_completed([doc]))
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code) == ("failed", "egress_refused")


def test_httpx_is_not_used_bare_for_outbound_calls() -> None:
    # Every partner client and fetch gets its client from the egress policy.
    import pathlib

    root = pathlib.Path(__file__).parent.parent / "gateway"
    bare = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "httpx.AsyncClient(" in p.read_text() and p.name != "egress.py"
    ]
    assert bare == []


async def test_an_address_saved_before_the_guard_is_refused_when_used(client, tenants, runtime) -> None:
    t = await tenants.create()
    body = {"insurer": "allianz", "credentials": {"username": "u", "password": "sandbox"}}
    conn = (await client.post("/v1/insurer-connections", json=body, headers=t.headers)).json()
    async with runtime.db.engine.begin() as db:  # as a row written before the guard existed would be
        await db.execute(
            text("UPDATE insurer_connections SET base_url = :url WHERE id = :id"),
            {"url": "http://[::1]:9/soap", "id": conn["id"]},
        )
    response = await client.post(f"/v1/insurer-connections/{conn['id']}/test", headers=t.headers)
    assert response.status_code == 422
    assert response.json()["partner_error"] == "egress_refused"
    assert [e["pointer"] for e in response.json()["errors"]] == ["/base_url"]
