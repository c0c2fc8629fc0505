"""``paybridge serve``'s uvicorn against slow clients, on 127.0.0.1: headers and bodies have deadlines."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from paybridge.app.settings import WebSettings
from paybridge.web.app import create_web_app
from paybridge.web.server import EmbeddedServer, ServerLimits

pytestmark = pytest.mark.anyio
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[int]:
    port = free_port()
    app = create_web_app(WebSettings(body_timeout_seconds=0.3))
    config = uvicorn.Config(app, host=HOST, port=port, log_level="critical", lifespan="off")
    embedded = EmbeddedServer(config, ServerLimits(header_timeout=0.3))
    task = asyncio.create_task(embedded.serve())
    for _ in range(200):  # polling for the listening socket, bounded
        if embedded.started:
            break
        await asyncio.sleep(0.01)
    yield port
    embedded.should_exit = True
    await task


async def read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout=5)


async def test_a_client_that_never_finishes_its_headers_is_cut_off(server: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, server)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    await writer.drain()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await read_all(reader) == b""  # closed by the server, no answer
    assert loop.time() - started < 3
    writer.close()


async def test_an_idle_connection_is_cut_off_too(server: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, server)
    assert await read_all(reader) == b""
    writer.close()


async def test_a_body_that_does_not_arrive_is_408_json(server: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, server)
    writer.write(
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    await writer.drain()
    answer = await read_all(reader)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"fields": {"body": "the body did not arrive within 0.3 s"}' in answer
    writer.close()


async def test_a_prompt_client_is_served_and_kept_alive(server: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, server)
    for _ in range(2):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
    writer.close()


async def test_x_forwarded_for_from_localhost_is_not_believed_by_uvicorn(server: int) -> None:
    config = uvicorn.Config(create_web_app(), host=HOST, port=free_port())
    assert EmbeddedServer(config).config.proxy_headers is False
