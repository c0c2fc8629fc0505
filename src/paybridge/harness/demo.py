"""`paybridge demo`: both sandboxes, the engine, its API and a storefront in one process, telling the whole story.

The one module outside tests and bench/ that starts the sandboxes. The storefront is a merchant's
web shop, an outside party with its own PayTrace session: shoppers' cards go from "the browser"
(the sandbox's Protect tokenizer) to PayTrace, never through PayBridge. It sells (a few amounts
decline, as PayTrace's sandbox does), voids, authorizes and captures, settles and refunds, and
pushes one signed event. The back office charges a D365 invoice through PayBridge's request/reply
API and a subscription bills its first period. The engine sees the storefront's work only through
the paths production uses (the poller, signed events), posts to D365, and at the end the day's
settlement is reconciled into an HTML report. The summary is counted by reading D365 back against
PayTrace's own export (``chaos.expected_lines``/``compare``), not from the engine's counters.

The store outlives the run: ``./paybridge-demo/`` (in the working directory) holds it with a
settings file naming it, so ``paybridge trace`` and ``paybridge dlq`` can read what the demo did;
the next demo run replaces it. The last lines say how.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console

from paybridge.app.api import build_api
from paybridge.app.engine import Engine, build_engine
from paybridge.errors import ConfigError
from paybridge.harness.story import (
    DemoSummary,
    Storefront,
    Story,
    demo_expected,
    demo_settings,
    storefront_client,
)
from paybridge.web.server import EmbeddedServer
from paybridge_sandbox.dynamics import create_app as create_dynamics_app
from paybridge_sandbox.paytrace import create_app as create_paytrace_app

__all__ = ["DemoSummary", "demo_expected", "run_demo", "summary_json"]


def _free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say so, and without
    # it every response waits out the peer's delayed ACK (40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


STORE_DIR = Path("paybridge-demo")
_MARK = ".paybridge-demo"  # the folder is the demo's own: its old store may be replaced
_SETTINGS = """\
# Written by `paybridge demo`: its store, kept for `paybridge trace` and `paybridge dlq`.
# The next demo run replaces the store; the sandboxes it talked to are gone with the demo.
store:
  url: {url}
"""


def prepare_store(folder: Path) -> tuple[Path, Path]:
    """The demo's store file and settings file in ``folder``, the last run's store removed.

    A folder that is not empty and was not made by the demo is refused, never emptied.
    """
    folder = folder.resolve()
    if folder.exists() and not (folder / _MARK).is_file() and any(folder.iterdir()):
        raise ConfigError(
            f"{folder} exists and is not a demo folder (no {_MARK} in it); "
            "move it away or run the demo in another directory",
            operation="demo",
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / _MARK).write_text("made by paybridge demo\n", encoding="utf-8")
    store = folder / "paybridge.db"
    for old in folder.glob("paybridge.db*"):  # the store, its WAL files, its audit key and anchor
        old.unlink()
    settings = folder / "paybridge.yaml"
    settings.write_text(_SETTINGS.format(url=f"sqlite:///{store}"), encoding="utf-8")
    return store, settings


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (shorter to type)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _a_posted_payment(engine: Engine) -> str | None:
    """A PayTrace transaction the demo posted to D365: the example ``trace`` is shown with."""
    for entry in engine.store.ledger.entries("paytrace:"):
        if entry.status == "posted":
            return entry.event_key.split(":")[1]
    return None


def _how_to_look(console: Console, engine: Engine, settings: Path) -> None:
    config = _shown(settings)
    example = _a_posted_payment(engine) or "<transaction id>"
    console.print(
        f"The demo's store is kept in {_shown(settings.parent)}{os.sep} (the next demo replaces it). "
        "Look at what it did:\n"
        f"  paybridge trace {example} --config {config}\n"
        f"  paybridge dlq list --config {config}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _url(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def _serve(app: Any, sock: socket.socket) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
    server = EmbeddedServer(config)
    asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server


async def run_demo(
    payments: int,
    *,
    exit_when_done: bool,
    seed: int = 7,
    console: Console | None = None,
    timeout: float = 300.0,
    on_ready: Callable[[str, str], Awaitable[None]] | None = None,
    on_done: Callable[[DemoSummary], None] | None = None,
    report_dir: Path | None = None,
    store_dir: Path | None = None,
) -> DemoSummary:
    """Run the story; without ``exit_when_done`` keep everything serving until cancelled
    (``on_done`` gets the summary first: the CLI prints it, as ``--exit`` does at the end).

    The store is kept in ``store_dir`` (default ``./paybridge-demo``), the last run's replaced.
    """
    console = console or Console(stderr=True)
    started = time.monotonic()
    store, settings_file = prepare_store(store_dir or STORE_DIR)
    pt_sock, d_sock, api_sock = _free_socket(), _free_socket(), _free_socket()
    second_sock = _free_socket()  # the second company's PayTrace merchant account
    pt_url, d_url, api_url = _url(pt_sock), _url(d_sock), _url(api_sock)
    second_url = _url(second_sock)
    servers = [
        await _serve(create_paytrace_app(), pt_sock),
        await _serve(create_dynamics_app(), d_sock),
        await _serve(create_paytrace_app(), second_sock),  # its ids overlap the first's
    ]
    reports = report_dir or store.parent / "reports"
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
    engine = build_engine(
        demo_settings(pt_url, d_url, store, secret, second_url, public_url=api_url)
    )
    try:
        servers.append(await _serve(build_api(engine), api_sock))
        stop = asyncio.Event()
        runner = asyncio.create_task(engine.run(stop))
        try:
            async with (
                httpx.AsyncClient(timeout=30) as pt_http,
                httpx.AsyncClient(base_url=api_url, timeout=30) as api,
            ):
                shop = Storefront(storefront_client(pt_http, engine.settings.paytrace), pt_http, pt_url,
                                  random.Random(seed))  # fmt: skip
                merchant = engine.settings.paytrace.model_copy(update={"base_url": second_url})
                second = Storefront(storefront_client(pt_http, merchant), pt_http, second_url,
                                    random.Random(seed + 1))  # fmt: skip
                console.print(
                    f"PayTrace sandbox: {pt_url} (usmf)   PayTrace sandbox: {second_url} (usrt)   "
                    f"D365 sandbox: {d_url}   PayBridge API: {api_url}"
                )
                story = Story(engine, shop, api, secret, console, payments, started, timeout,
                              second)  # fmt: skip
                summary = await story.run(reports)
            if not exit_when_done:
                if on_done is not None:
                    on_done(summary)
                console.print(
                    f"Demo running. PayTrace sandbox {pt_url} (user sandbox/sandbox), "
                    f"D365 sandbox {d_url}/data, PayBridge API {api_url}/docs.\n"
                    f"Its metrics: curl {api_url}/metrics (what a Prometheus scrape of "
                    "`paybridge serve` reads)\n"
                    f"Reconciliation report: {summary.report}\n"
                    f"Store: {_shown(store.parent)}{os.sep} (`paybridge trace <id> --config "
                    f"{_shown(settings_file)}` reads it, now or after the demo)\nCtrl-C to stop."
                )
                if on_ready is not None:
                    await on_ready(pt_url, d_url)
                await asyncio.Event().wait()
            return summary
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner, timeout=10)
    finally:
        with contextlib.suppress(Exception):  # the hint never hides what stopped the demo
            _how_to_look(console, engine, settings_file)
        await engine.aclose()
        for server in servers:
            server.should_exit = True
        await asyncio.sleep(0.05)


def summary_json(summary: DemoSummary) -> str:
    return json.dumps(asdict(summary), separators=(", ", ": "))


__all__ = ["DemoSummary", "demo_expected", "run_demo", "summary_json"]
