"""The egress pool's HTTP/1.1 connection (gateway/http11.py), against scripted loopback servers."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.egress import EgressPolicy, GuardedClient, GuardedTransport, Origin, parse_allowlist
from gateway.http11 import WRITE_CHUNK
from gateway.http_pool import ConnectionPool

Answer = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


class ScriptedServer:
    """Reads each request (head and any Content-Length or chunked body), lets ``answer`` write
    the raw response; the connection is kept while ``answer`` returns True."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.bodies: list[bytes] = []

    async def _read_body(self, head: bytes, reader: asyncio.StreamReader) -> bytes:
        lines = head.lower().split(b"\r\n")
        length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), 0)
        if any(line.startswith(b"transfer-encoding:") and b"chunked" in line for line in lines):
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
            return body
        return await reader.readexactly(length)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                self.bodies.append(await self._read_body(head, reader))
                if not await self.answer(head, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()


def replying(response: bytes, *, keep: bool = True) -> Answer:
    async def answer(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(response)
        await writer.drain()
        return keep

    return answer


def silent_for(seconds: float) -> Answer:
    """Answers nothing for ``seconds``, then closes the connection: a slow server."""

    async def answer(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(seconds)
        return False

    return answer


def client(port: int, **kwargs: object) -> httpx.AsyncClient:
    return EgressPolicy(allow=parse_allowlist([f"127.0.0.1:{port}"]), allow_http=True).client(**kwargs)  # type: ignore[arg-type]


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def test_posts_on_one_kept_connection_in_one_write_each() -> None:
    server = ScriptedServer(replying(OK))
    async with server.running() as port, client(port) as http:
        for n in range(3):
            answer = await http.post(f"http://127.0.0.1:{port}/files?n={n}", content=b"x" * 5000)
            assert (answer.status_code, answer.text, answer.reason_phrase) == (200, "ok", "OK")
    assert server.connections == 1
    assert server.bodies == [b"x" * 5000] * 3
    assert server.requests[0].startswith(b"POST /files?n=0 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in server.requests[0].lower()


@pytest.mark.parametrize("size", [WRITE_CHUNK - 200, WRITE_CHUNK, 3 * WRITE_CHUNK])
async def test_a_body_that_fills_whole_writes_leaves_none_empty(size: int) -> None:
    # The last piece of a body ending on a write's boundary used to be an empty write (IndexError).
    server = ScriptedServer(replying(OK))
    async with server.running() as port, client(port) as http:
        for _ in range(2):
            assert (await http.post(f"http://127.0.0.1:{port}/", content=b"r" * size)).status_code == 200
    assert server.bodies == [b"r" * size] * 2


async def test_a_streamed_request_body_is_sent_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one ", b"", b"two " * 30000, b"three"):
            yield part

    server = ScriptedServer(replying(OK))
    async with server.running() as port, client(port) as http:
        assert (await http.post(f"http://127.0.0.1:{port}/", content=parts())).status_code == 200
    assert server.bodies == [b"one " + b"two " * 30000 + b"three"]


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world",
    ],
)
async def test_chunked_and_informational_answers(response: bytes) -> None:
    server = ScriptedServer(replying(response))
    async with server.running() as port, client(port) as http:
        for _ in range(2):
            answer = await http.get(f"http://127.0.0.1:{port}/")
            assert (answer.status_code, answer.content) == (200, b"hello world")
    assert server.connections == 1


async def test_a_body_framed_by_the_connections_end() -> None:
    server = ScriptedServer(replying(b"HTTP/1.0 200 OK\r\n\r\n" + b"z" * 100_000, keep=False))
    async with server.running() as port, client(port) as http:
        for _ in range(2):
            assert (await http.get(f"http://127.0.0.1:{port}/")).content == b"z" * 100_000
    assert server.connections == 2


async def test_head_and_no_content_answers_have_no_body() -> None:
    responses = iter([b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n", OK])

    async def answer(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(next(responses))
        return True

    server = ScriptedServer(answer)
    async with server.running() as port, client(port) as http:
        head = await http.head(f"http://127.0.0.1:{port}/")
        assert (head.status_code, head.headers["content-length"], head.content) == (200, "10", b"")
        assert (await http.delete(f"http://127.0.0.1:{port}/")).status_code == 204
        assert (await http.get(f"http://127.0.0.1:{port}/")).text == "ok"
    assert server.connections == 2  # after a HEAD the connection is not trusted again


async def test_a_server_that_closes_mid_answer_is_a_protocol_error() -> None:
    server = ScriptedServer(replying(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", keep=False))
    async with server.running() as port, client(port) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{port}/")
    silent = ScriptedServer(replying(b"", keep=False))
    async with silent.running() as port, client(port) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_garbage_is_a_protocol_error_and_a_slow_server_a_read_timeout() -> None:
    server = ScriptedServer(replying(b"SMTP ready\r\n\r\n"))
    async with server.running() as port, client(port) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{port}/")

    server = ScriptedServer(silent_for(1))
    async with server.running() as port, client(port, timeout=0.1) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_headers_that_would_split_the_request_are_refused() -> None:
    server = ScriptedServer(replying(OK))
    async with server.running() as port, client(port) as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(f"http://127.0.0.1:{port}/", headers={"x-name": "a\r\nx-injected: 1"})
        assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 200
    assert len(server.requests) == 1


def test_works_on_uvloop_as_the_workers_run() -> None:
    async def main() -> tuple[int, int]:
        server = ScriptedServer(replying(OK))
        async with server.running() as port, client(port) as http:
            answers = await asyncio.gather(*(http.post(f"http://127.0.0.1:{port}/", content=b"x") for _ in range(20)))
        return sum(a.status_code == 200 for a in answers), server.connections

    done, connections = uvloop.run(main())
    assert done == 20
    assert 1 <= connections <= 20


def self_signed(tmp_path: Path, host: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    return server, trusting


async def test_tls_verifies_the_urls_host_on_the_checked_address(tmp_path: Path) -> None:
    server_tls, trusting = self_signed(tmp_path, "partner.test")
    server = ScriptedServer(replying(OK))

    async def resolve(host: str, port: int) -> list[str]:
        return {"partner.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}[host]

    async with server.running(server_tls) as port:
        policy = EgressPolicy(allow=parse_allowlist(["127.0.0.1/32"]), resolver=resolve)
        transport = GuardedTransport(policy)
        transport._pool = ConnectionPool(policy.addresses, ssl_context=trusting)
        async with httpx.AsyncClient(transport=transport) as http:
            answer = await http.get(f"https://partner.test:{port}/doc")
            assert (answer.status_code, answer.text) == (200, "ok")
            with pytest.raises(httpx.ConnectError):  # the certificate does not name this host
                await http.get(f"https://other.test:{port}/doc")
    assert server.requests[0].startswith(b"GET /doc HTTP/1.1\r\n")
    assert f"host: partner.test:{port}".encode() in server.requests[0].lower()


async def test_cookies_a_partner_sets_are_still_kept() -> None:
    # The guarded client's jar skips answers without Set-Cookie, and only those.
    answers = iter([OK, b"HTTP/1.1 200 OK\r\nset-cookie: session=s1; Path=/\r\ncontent-length: 2\r\n\r\nok", OK])

    async def answer(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(next(answers))
        return True

    server = ScriptedServer(answer)
    async with server.running() as port, client(port) as http:
        for n in range(3):
            await http.get(f"http://127.0.0.1:{port}/{n}")
        assert http.cookies.get("session") == "s1"
    assert [b"cookie: session=s1" in r.lower() for r in server.requests] == [False, False, True]


async def test_no_byte_past_a_declared_length_is_read_as_body() -> None:
    # The egress transport relies on it: a body framed by a length within the cap needs no
    # counting. What follows the length is not a response: that connection is not used again.
    server = ScriptedServer(replying(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" + b"x" * 10_000))
    async with server.running() as port, client(port) as http:
        for _ in range(2):
            assert (await http.get(f"http://127.0.0.1:{port}/")).content == b"ok"
    assert server.connections == 2


def send_bytes(http: httpx.AsyncClient, port: int, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    """The partner-call path: the request exchanged whole on a pool connection (``exchange``)."""
    assert isinstance(http, GuardedClient)
    origin = Origin.of(f"http://127.0.0.1:{port}")
    return http.send_bytes(origin, b"GET", b"/", headers or [], None, http.timeout.as_dict())


@pytest.mark.parametrize(
    ("response", "keep", "connections"),
    [
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", True, 1),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world", True, 1),
        (b"HTTP/1.0 200 OK\r\n\r\nhello world", False, 2),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello worldXXXX", True, 2),  # bytes past the length
    ],
)
async def test_a_whole_exchange_reads_every_framing(response: bytes, keep: bool, connections: int) -> None:
    server = ScriptedServer(replying(response, keep=keep))
    async with server.running() as port, client(port) as http:
        for _ in range(2):
            assert await send_bytes(http, port) == (200, b"hello world")
    assert server.connections == connections


async def test_a_whole_exchange_fails_as_httpx_does_and_drops_the_connection() -> None:
    cut = ScriptedServer(replying(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", keep=False))
    garbage = ScriptedServer(replying(b"SMTP ready\r\n\r\n"))
    for server in (cut, garbage):
        async with server.running() as port, client(port) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await send_bytes(http, port)
            assert pool_connections(http) == []

    server = ScriptedServer(silent_for(0.5))
    async with server.running() as port, client(port, timeout=0.1) as http:
        with pytest.raises(httpx.ReadTimeout):
            await send_bytes(http, port)
        with pytest.raises(httpx.LocalProtocolError):
            await send_bytes(http, port, [(b"X-Split", b"a\r\nInjected: 1")])
        assert pool_connections(http) == []
    assert len(server.requests) == 1  # the split header never left


def pool_connections(http: httpx.AsyncClient) -> list[Any]:
    return list(http._transport._pool.connections)  # type: ignore[attr-defined]
