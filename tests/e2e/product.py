"""Drive PayBridge as a product: its processes, its settings file, and both sandboxes over HTTP.

Nothing here imports ``paybridge`` or ``paybridge_sandbox``. The sandboxes run as
``paybridge-sandbox`` processes and are read through their own HTTP routes (PayTrace v1 and D365
OData with the tokens a real client gets, plus the ``/_sandbox/`` admin routes); PayBridge runs as
``paybridge serve``/``paybridge worker`` processes configured by a YAML settings file whose secrets
are ``env:`` references, given to the processes through their environment; its CLI and public
HTTP API are the only other ways in.

Waiting is always polling with a deadline (never a blind sleep); a wait that runs out fails with
what was last observed and the tail of every process log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent  # the venv's bin: paybridge, paybridge-sandbox
POLL = 0.2  # seconds between two looks at an outcome

# The sandboxes' public logins (their defaults); PayBridge gets them through env: references.
PAYTRACE_LOGIN = {"username": "sandbox", "password": "sandbox", "integrator_id": "SANDBOX00001"}
D365_TENANT = "sandbox-tenant"
D365_CLIENT = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
SECRETS = {
    "PAYTRACE_USERNAME": PAYTRACE_LOGIN["username"],
    "PAYTRACE_PASSWORD": PAYTRACE_LOGIN["password"],
    "PAYTRACE_INTEGRATOR_ID": PAYTRACE_LOGIN["integrator_id"],
    "DYNAMICS_CLIENT_SECRET": D365_CLIENT["client_secret"],
    "CARD_LINK_SECRET": "e2e card-on-file link signing secret",
    "PAY_LINK_SECRET": "e2e pay-by-link signing secret",
}
MERCHANT_TZ = "America/Los_Angeles"  # the PayTrace sandbox's merchant time zone (its default)
TEST_CARD = {"number": "4012000098765439", "expiration_month": 12, "expiration_year": 2030}

# Log lines every HTTP request makes (httpx's client log, uvicorn's access log): left out of tails.
ROUTINE = (" INFO httpx HTTP Request: ", "INFO:     127.0.0.1:")

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without PAYBRIDGE__ overrides, plus the secrets and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBRIDGE__")}
    env.pop("PAYBRIDGE_DEBUG", None)
    # Unbuffered logs; wide rich tables when the CLI prints one.
    return {**env, **SECRETS, "PYTHONUNBUFFERED": "1", "COLUMNS": "250", **(extra or {})}


@dataclass(eq=False)
class Process:
    """A program started by a test; its stdout and stderr go to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def tail(self, chars: int = 3000) -> str:
        """The end of the log, without the routine lines of every HTTP request made or served."""
        try:
            lines = self.log.read_bytes().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        kept = [line for line in lines if not any(noise in line for noise in ROUTINE)]
        text = "\n".join(kept)[-chars:] or "(empty log)"
        hidden = len(lines) - len(kept)
        return f"({hidden} routine HTTP lines left out)\n{text}" if hidden else text

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(timeout=timeout)
        return self.popen.returncode


def start_process(name: str, argv: Sequence[str], log: Path, env: dict[str, str]) -> Process:
    handle = log.open("ab")
    try:
        popen = subprocess.Popen(
            list(argv), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    finally:
        handle.close()  # the child keeps its own descriptor
    return Process(name, popen, log)


def logs_of(processes: Sequence[Process], chars: int = 3000) -> str:
    return "".join(
        f"\n--- {p.name} (exit {p.returncode}), last of {p.log} ---\n{p.tail(chars)}"
        for p in processes
    )


def fail(message: str, processes: Sequence[Process] = ()) -> NoReturn:
    pytest.fail(message + logs_of(processes), pytrace=False)


def _short(value: Any, limit: int = 1500) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def wait_for(
    what: str,
    probe: Callable[[], T],
    until: Callable[[T], bool] = bool,
    *,
    timeout: float,
    watch: Sequence[Process] = (),
    logs: Sequence[Process] = (),
    give_up: Callable[[], str | None] | None = None,
    give_up_every: float = 5.0,
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll ``probe`` every POLL seconds until ``until(value)``; returns that value.

    Fails when ``timeout`` runs out, when a process in ``watch`` exits, or when ``give_up``
    (asked every ``give_up_every`` seconds) names a reason the outcome can no longer come.
    The message has the last observation, what ``explain`` says, and the tail of the logs of
    ``logs`` and ``watch``.
    """
    shown = list(dict.fromkeys([*logs, *watch]))

    def fail_with(message: str) -> NoReturn:
        if explain is not None:
            try:
                message += f"\n{explain()}"
            except Exception as exc:  # a diagnostic must not hide the failure
                message += f"\n(explaining failed: {exc!r})"
        fail(message, shown)

    start = time.monotonic()
    deadline = start + timeout
    next_give_up = start + give_up_every
    last: Any = "(nothing observed yet)"
    while True:
        for proc in watch:
            if proc.returncode is not None:
                fail_with(
                    f"{what}: {proc.name} exited with code {proc.returncode} after "
                    f"{time.monotonic() - start:.1f}s; last observed: {_short(last)}"
                )
        try:
            value = probe()
        except httpx.HTTPError as exc:  # a sandbox busy or briefly away: look again
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until(value):
                return value
            last = value
        now = time.monotonic()
        if give_up is not None and now >= next_give_up:
            reason = give_up()
            if reason:
                fail_with(
                    f"{what}: cannot happen any more: {reason}; last observed: {_short(last)}"
                )
            next_give_up = time.monotonic() + give_up_every
        if now >= deadline:
            fail_with(f"{what}: not within {timeout:.0f}s; last observed: {_short(last)}")
        time.sleep(POLL)


def stays(
    what: str,
    probe: Callable[[], T],
    holds: Callable[[T], bool],
    *,
    seconds: float,
    watch: Sequence[Process] = (),
) -> T:
    """Observe ``probe`` every POLL seconds for ``seconds``; fail the moment ``holds`` is false."""
    end = time.monotonic() + seconds
    value = probe()
    while True:
        if not holds(value):
            fail(f"{what}: no longer true; observed {_short(value)}", watch)
        for proc in watch:
            if proc.returncode is not None:
                fail(f"{what}: {proc.name} exited with code {proc.returncode}", watch)
        if time.monotonic() >= end:
            return value
        time.sleep(POLL)
        value = probe()


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merchant_today(zone: str = MERCHANT_TZ) -> date:
    return datetime.now(ZoneInfo(zone)).date()


# --- the PayTrace sandbox, as a storefront and an auditor see it -----------------------------


class _Sandbox:
    """An HTTP client of one sandbox that logs in once and keeps the bearer token."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=15)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def _login(self) -> httpx.Response:
        raise NotImplementedError

    def token(self) -> str:
        if self._token is None:
            reply = self._login()
            reply.raise_for_status()
            self._token = str(reply.json()["access_token"])
        return self._token


class PayTrace(_Sandbox):
    """The PayTrace sandbox over HTTP: OAuth password grant, v1 endpoints, admin routes."""

    def _login(self) -> httpx.Response:
        login = {k: PAYTRACE_LOGIN[k] for k in ("username", "password")}
        return self.http.post("/oauth/token", data={"grant_type": "password", **login})

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One v1 call; a ``success: false`` answer is a test failure."""
        reply = self.http.post(
            path,
            json={"integrator_id": PAYTRACE_LOGIN["integrator_id"], **body},
            headers={"Authorization": f"Bearer {self.token()}"},
        )
        data = reply.json()
        if reply.status_code != 200 or not data.get("success"):
            raise AssertionError(f"PayTrace {path} answered {reply.status_code}: {data}")
        return dict(data)

    def create_customer(self, customer_id: str, name: str = "E2E Shopper") -> None:
        """A vault profile, as a storefront makes one (the card goes to PayTrace, never PayBridge)."""
        self.call(
            "/v1/customer/create",
            {
                "customer_id": customer_id,
                "credit_card": TEST_CARD,
                "billing_address": {"name": name, "street_address": "1 Main St", "zip": "98101"},
            },
        )

    def sale_by_customer(self, customer_id: str, amount: str, invoice_id: str) -> str:
        """Charge the profile; the approved sale's transaction id."""
        reply = self.call(
            "/v1/transactions/sale/by_customer",
            {"customer_id": customer_id, "amount": amount, "invoice_id": invoice_id},
        )
        return str(reply["transaction_id"])

    def transactions(self) -> list[dict[str, Any]]:
        """Every transaction from yesterday to tomorrow (merchant days), from PayTrace's export."""
        today = merchant_today()
        reply = self.call(
            "/v1/transactions/export/by_date_range",
            {
                "start_date": (today - timedelta(days=1)).strftime("%m/%d/%Y"),
                "end_date": (today + timedelta(days=1)).strftime("%m/%d/%Y"),
            },
        )
        return list(reply.get("transactions") or [])

    def approved_sales(self, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [t for t in self.transactions() if is_approved_sale(t) and match(t)]

    def script_fault(
        self, fault: str, path: str, *, method: str = "POST", times: int = 1
    ) -> dict[str, Any]:
        reply = self.http.post(
            "/_sandbox/faults",
            json={"script": [{"fault": fault, "path": path, "method": method, "times": times}]},
        )
        reply.raise_for_status()
        return dict(reply.json())

    def tokenize(self, card: dict[str, Any] | None = None) -> dict[str, str]:
        """What protect.min.js hands a page once a card was typed into PayTrace's fields
        (the sandbox's emulator-only ``/_sandbox/protect/tokenize``)."""
        body = {"credit_card": card or TEST_CARD, "csc": "999"}
        reply = self.http.post("/_sandbox/protect/tokenize", json=body)
        reply.raise_for_status()
        return {k: str(v) for k, v in reply.json().items()}

    def faults(self) -> dict[str, Any]:
        return dict(self.http.get("/_sandbox/faults").json())

    def summary(self) -> dict[str, Any]:
        return dict(self.http.get("/_sandbox/state/summary").json())


def is_approved_sale(record: dict[str, Any]) -> bool:
    status = f"{record.get('status_code', '')} {record.get('status_message', '')}".lower()
    return (
        str(record.get("transaction_type", "")).strip().upper() == "SALE"
        and bool(record.get("approval_code"))
        and "declin" not in status
        and "void" not in status
    )


# --- the D365 sandbox, read as an OData client ------------------------------------------------


class Dynamics(_Sandbox):
    """The D365 F&O sandbox over HTTP: a client-credentials token, OData reads, admin state."""

    def _login(self) -> httpx.Response:
        return self.http.post(
            f"/{D365_TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                **D365_CLIENT,
                "scope": f"{self.url}/.default",
            },
        )

    def query(self, entity: str, odata_filter: str | None = None) -> list[dict[str, Any]]:
        """Every row of ``entity`` (all companies) matching ``odata_filter``, following nextLinks."""
        params = {"cross-company": "true"}
        if odata_filter:
            params["$filter"] = odata_filter
        url: str | None = f"/data/{entity}"
        rows: list[dict[str, Any]] = []
        while url is not None:
            reply = self.http.get(
                url,
                params=params if url.startswith("/data/") else None,
                headers={"Authorization": f"Bearer {self.token()}"},
            )
            if reply.status_code != 200:
                raise AssertionError(
                    f"D365 {entity} answered {reply.status_code}: {reply.text[:500]}"
                )
            data = reply.json()
            rows.extend(data.get("value", []))
            url = data.get("@odata.nextLink")
        return rows

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /data/<entity>``: what a person (or another integration) adds in D365."""
        reply = self.http.post(
            f"/data/{entity}", json=body, headers={"Authorization": f"Bearer {self.token()}"}
        )
        if reply.status_code != 201:
            raise AssertionError(f"D365 POST {entity} answered {reply.status_code}: {reply.text}")
        return dict(reply.json())

    def service(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/services/<path>``: the emulator-only services a person's clicks stand for
        (``PayBridgeSandbox/SalesOrders/invoice``, ``.../creditNote``, ``.../cancel``)."""
        reply = self.http.post(
            f"/api/services/{path}", json=body, headers={"Authorization": f"Bearer {self.token()}"}
        )
        if reply.status_code != 200:
            raise AssertionError(f"D365 service {path} answered {reply.status_code}: {reply.text}")
        return dict(reply.json())

    def payment_lines(self, reference: str) -> list[dict[str, Any]]:
        """CustomerPaymentJournalLines whose PaymentReference is the PayTrace transaction id."""
        return self.query("CustomerPaymentJournalLines", f"PaymentReference eq '{reference}'")

    def journal_header(self, company: str, batch: str) -> dict[str, Any] | None:
        rows = self.query(
            "CustomerPaymentJournalHeaders",
            f"dataAreaId eq '{company}' and JournalBatchNumber eq '{batch}'",
        )
        return rows[0] if rows else None

    def summary(self) -> dict[str, Any]:
        return dict(self.http.get("/_sandbox/state").json())


# --- one test's world: two sandboxes, a settings file, PayBridge's processes ------------------


@dataclass
class World:
    """Everything one test started; ``open_world`` stops it all (last started, first stopped)."""

    tmp: Path
    paytrace: PayTrace
    dynamics: Dynamics
    processes: list[Process] = field(default_factory=list)
    config: Path | None = None
    engine: Process | None = None
    api_url: str | None = None

    def write_settings(self, sections: dict[str, Any] | None = None) -> Path:
        """``paybridge.yaml`` for both sandboxes: secrets as env: references, short poll times.

        ``sections`` are merged in (``{"billing": {"enabled": True}}``).
        """
        base: dict[str, Any] = {
            "store": {"url": f"sqlite:///{self.tmp / 'paybridge.db'}"},
            "paytrace": {
                "base_url": self.paytrace.url,
                "username": "env:PAYTRACE_USERNAME",
                "password": "env:PAYTRACE_PASSWORD",
                "integrator_id": "env:PAYTRACE_INTEGRATOR_ID",
                "timezone": MERCHANT_TZ,
                "poll_interval_seconds": 0.5,
                "timeout_seconds": 10,
            },
            "dynamics": {
                "base_url": self.dynamics.url,
                "tenant": D365_TENANT,
                "client_id": D365_CLIENT["client_id"],
                "client_secret": "env:DYNAMICS_CLIENT_SECRET",
                "login_redirect": self.dynamics.url,
                "timeout_seconds": 10,
                # The tests' PayTrace profiles are named like the seeded D365 accounts.
                "customer_match": "xref_or_same_id",
            },
            "worker": {"idle_seconds": 0.05},
            "web": {"host": HOST},
            # The morning job is off unless a test turns it on (it would write to D365).
            "reconcile": {"schedule_at": None},
        }
        self.config = self.tmp / "paybridge.yaml"
        data = deep_merge(base, sections or {})
        self.config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return self.config

    def cli(
        self, *args: str, timeout: float = 60.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``paybridge <args> --config <settings>``; with ``check`` a non-zero exit fails the test."""
        assert self.config is not None, "write_settings first"
        argv = [str(BIN / "paybridge"), *args, "--config", str(self.config)]
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=process_env(),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # run() has killed it
            fail(
                f"`paybridge {' '.join(args)}` still running after {timeout:.0f}s: {exc}",
                self.processes,
            )
        if check and result.returncode != 0:
            fail(
                f"`paybridge {' '.join(args)}` exited {result.returncode}\n"
                f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}",
                self.processes,
            )
        return result

    def api_key(self, role: str) -> str:
        """A new API key from ``paybridge keys create`` (printed once, on stdout)."""
        result = self.cli("keys", "create", "--role", role, "--label", f"e2e {role}")
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        assert lines, f"keys create printed no key: {result.stderr}"
        return lines[-1]

    def start_engine(self, command: str = "worker", *, ready_timeout: float = 30.0) -> Process:
        """``paybridge worker`` or ``paybridge serve`` (waits for /health) with the settings."""
        assert self.config is not None, "write_settings first"
        argv = [str(BIN / "paybridge"), command, "--config", str(self.config)]
        if command == "serve":
            port = free_port()
            argv += ["--host", HOST, "--port", str(port)]
            self.api_url = f"http://{HOST}:{port}"
        proc = start_process(
            f"paybridge {command}", argv, self.tmp / f"{command}.log", process_env()
        )
        self.processes.append(proc)
        self.engine = proc
        if command == "serve":
            api_url = self.api_url
            wait_for(
                "paybridge serve answers GET /health",
                lambda: httpx.get(f"{api_url}/health", timeout=2).status_code,
                lambda status: status == 200,
                timeout=ready_timeout,
                watch=[proc],
            )
        return proc

    def api(self, token: str) -> httpx.Client:
        assert self.api_url is not None, "start_engine('serve') first"
        return httpx.Client(
            base_url=self.api_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )


def _start_sandbox(system: str, tmp: Path, extra: Sequence[str] = ()) -> tuple[Process, str]:
    port = free_port()
    argv = [str(BIN / "paybridge-sandbox"), system, "--port", str(port), *extra]
    proc = start_process(f"{system} sandbox", argv, tmp / f"sandbox-{system}.log", process_env())
    return proc, f"http://{HOST}:{port}"


@contextlib.contextmanager
def open_world(
    tmp: Path, ready_timeout: float = 30.0, dynamics_args: Sequence[str] = ()
) -> Iterator[World]:
    """Both sandboxes as processes (ready when their admin routes answer); all stopped on exit.

    ``dynamics_args`` go to ``paybridge-sandbox dynamics`` (``--extension-field``,
    ``--throttle-*``, ``--work-ms-...``)."""
    processes: list[Process] = []
    clients: list[PayTrace | Dynamics] = []
    try:
        pt_proc, pt_url = _start_sandbox("paytrace", tmp)
        processes.append(pt_proc)
        d_proc, d_url = _start_sandbox("dynamics", tmp, dynamics_args)
        processes.append(d_proc)
        paytrace, dynamics = PayTrace(pt_url), Dynamics(d_url)
        clients += [paytrace, dynamics]
        for proc, probe in ((pt_proc, paytrace.summary), (d_proc, dynamics.summary)):
            wait_for(f"{proc.name} answers", probe, timeout=ready_timeout, watch=[proc])
        world = World(tmp, paytrace, dynamics, processes)
        yield world
    finally:
        for proc in reversed(processes):
            proc.stop()
        for client in clients:
            client.close()
