"""`paybridge-sandbox paytrace|dynamics --port N [--state FILE] [--faults PROFILE] [--tls-cert PEM
--tls-key PEM] [--authority HOST:PORT] [--journal-line-numbers assign|require] [--throttle-fno]
[--throttle-requests N --throttle-window S --throttle-execution S --throttle-concurrent N
--throttle-retry-after S|auto] [--work-ms-per-operation MS] [--extra-clients N]`: serve one
emulator, and say where and with which logins."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def _paytrace(args: argparse.Namespace) -> tuple[Any, list[str]]:
    from paybridge_sandbox.paytrace import create_app
    from paybridge_sandbox.paytrace.settings import PayTraceSandboxSettings

    first = args.first_transaction_id or first_transaction_id(args.port)
    settings = PayTraceSandboxSettings(
        state_path=args.state, faults_profile=args.faults, first_transaction_id=first
    )
    url = _url(args)
    banner = [
        f"paybridge-sandbox paytrace listening on {url}",
        f"  paytrace.base_url:       {url}",
        f"  paytrace.username:       {settings.username}",
        f"  paytrace.password:       {settings.password}",
        f"  paytrace.integrator_id:  {settings.integrator_id}",
        f"  merchant time zone:      {settings.merchant_timezone} (paytrace.timezone)",
        f"  first transaction id:    {settings.first_transaction_id}",
    ]
    return create_app(settings), banner


def first_transaction_id(port: int) -> int:
    """A merchant's first transaction id when none is given: 100,000,001 moved by 100,000 per
    port (mod 1000), so two sandbox processes (two merchant accounts) hand out different ids
    unless told to overlap (``--first-transaction-id``)."""
    return 100_000_001 + (port % 1000) * 100_000


def _dynamics(args: argparse.Namespace) -> tuple[Any, list[str]]:
    from paybridge_sandbox.dynamics import create_app
    from paybridge_sandbox.dynamics.settings import DynamicsSandboxSettings

    url = _url(args)
    # Over HTTPS the sandbox is its own Entra authority (MSAL needs https and OpenID discovery);
    # over HTTP it answers for login.microsoftonline.com, reached through dynamics.login_redirect.
    authority = args.authority or (f"{HOST}:{args.port}" if args.tls_cert else None)
    options: dict[str, Any] = {
        "state_path": args.state,
        "fault_profile": args.faults,
        "journal_line_numbers": args.journal_line_numbers,
        "extension_fields": tuple(args.extension_field or ()),
    }
    if authority:
        options["authority_host"] = authority
    options["throttle"] = _throttle(args)
    options["work_seconds_per_operation"] = args.work_ms_per_operation / 1000.0
    options["clients"] = _clients(args.extra_clients)
    settings = DynamicsSandboxSettings(**options)
    client = settings.clients[0]
    banner = [
        f"paybridge-sandbox dynamics listening on {url}",
        f"  dynamics.base_url:       {url}",
        f"  dynamics.tenant:         {settings.tenant}",
        f"  dynamics.client_id:      {client.client_id}",
        f"  dynamics.client_secret:  {client.client_secret}",
    ]
    if authority:
        banner.append(f"  dynamics.authority_host: https://{authority}")
        banner.append(
            f"  OpenID discovery:        https://{authority}/{settings.tenant}/v2.0/.well-known/openid-configuration"
        )
    else:
        banner.append(
            f"  dynamics.login_redirect: {url}  (authority_host stays {settings.authority_host})"
        )
    banner.append(
        f"  as AD FS (on-premises):  dynamics.auth: adfs, dynamics.adfs_url: {url}"
        "  (same client id and secret)"
    )
    banner.append("  companies usmf and usrt; journal name CustPay; bank account USMF OPER")
    for extra in settings.clients[1:]:
        banner.append(f"  another app registration: {extra.client_id} / {extra.client_secret}")
    if settings.throttle is not None:
        limits = ", ".join(f"{k} {v}" for k, v in settings.throttle.describe().items())
        banner.append(f"  service protection per principal: {limits}")
    try:
        return create_app(settings), banner
    except ValueError as exc:  # a bad --extension-field
        print(f"paybridge-sandbox: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _throttle(args: argparse.Namespace) -> Any:
    from paybridge_sandbox.dynamics.protection import ThrottleSettings

    if args.throttle_fno:
        return ThrottleSettings.fno()
    limits = (args.throttle_requests, args.throttle_execution, args.throttle_concurrent)
    if all(limit is None for limit in limits):
        return None
    retry = None if args.throttle_retry_after == "auto" else int(args.throttle_retry_after)
    return ThrottleSettings(
        args.throttle_requests, args.throttle_window, retry, args.throttle_execution,
        args.throttle_concurrent, resource_message=False,
    )  # fmt: skip


def _clients(extra: int) -> tuple[Any, ...]:
    """The default app registration plus ``extra`` more: ``sandbox-client-2``/``sandbox-secret-2``..."""
    from paybridge_sandbox.dynamics.settings import ClientRegistration

    more = (
        ClientRegistration(f"sandbox-client-{n}", f"sandbox-secret-{n}")
        for n in range(2, extra + 2)
    )
    return (ClientRegistration("sandbox-client", "sandbox-secret"), *more)


FACTORIES = {"paytrace": _paytrace, "dynamics": _dynamics}


def _url(args: argparse.Namespace) -> str:
    return f"{'https' if args.tls_cert else 'http'}://{HOST}:{args.port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="paybridge-sandbox",
        description="Serve a local emulator of PayTrace v1 or D365 F&O OData on 127.0.0.1.",
    )
    parser.add_argument("system", choices=sorted(FACTORIES), help="which emulator to serve")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    parser.add_argument("--state", type=Path, default=None, help="SQLite file to keep state in")
    parser.add_argument("--faults", default="none", help="fault profile: none, flaky, chaos")
    parser.add_argument("--tls-cert", type=Path, default=None, help="serve HTTPS: PEM certificate")
    parser.add_argument("--tls-key", type=Path, default=None, help="serve HTTPS: PEM private key")
    parser.add_argument(
        "--authority",
        default=None,
        help="dynamics: the Entra authority host[:port] its OpenID discovery names "
        "(default over HTTPS: this sandbox itself)",
    )
    parser.add_argument(
        "--journal-line-numbers",
        choices=("assign", "require"),
        default="assign",
        help="dynamics: a journal line created without LineNumber is numbered one past the "
        "journal's highest (assign) or refused (require)",
    )
    parser.add_argument(
        "--extension-field",
        action="append",
        metavar="SET.FIELD[:EDM.TYPE]",
        help="dynamics: an extension field the deployment has, e.g. "
        "CustomerPaymentJournalLines.xyzPayTraceApproval (repeatable; Edm.String by default)",
    )
    parser.add_argument(
        "--first-transaction-id",
        type=int,
        default=None,
        help="paytrace: the first transaction id it hands out (default: 100000001 moved by "
        "100000 per port mod 1000, so two sandboxes differ; give two the same to overlap)",
    )
    _protection_options(parser)
    args = parser.parse_args(argv)
    _check_protection(parser, args)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    for option in ("tls_cert", "tls_key"):
        path = getattr(args, option)
        if path is not None and not path.is_file():
            parser.error(f"--{option.replace('_', '-')}: no such file {path}")
    if args.authority and args.system != "dynamics":
        parser.error("--authority is for the dynamics sandbox")
    if args.first_transaction_id is not None and args.system != "paytrace":
        parser.error("--first-transaction-id is for the paytrace sandbox")
    if args.first_transaction_id is not None and not 1 <= args.first_transaction_id < 10**12:
        parser.error("--first-transaction-id must be a positive number below 10^12")
    if args.port == 0:
        args.port = _free_port()
    return args


def _protection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "dynamics service protection, per principal (spec 2.12; off by default)"
    )
    group.add_argument("--throttle-fno", action="store_true",
                       help="F&O's documented limits: 6000 requests and 1200 s of execution per "
                       "300 s, 52 concurrent requests")  # fmt: skip
    group.add_argument("--throttle-requests", type=int, default=None, help="requests per window")
    group.add_argument("--throttle-window", type=float, default=300.0,
                       help="sliding window, seconds (default 300)")  # fmt: skip
    group.add_argument("--throttle-execution", type=float, default=None,
                       help="combined execution seconds per window")  # fmt: skip
    group.add_argument("--throttle-concurrent", type=int, default=None,
                       help="concurrent requests")  # fmt: skip
    group.add_argument("--throttle-retry-after", default="auto",
                       help="Retry-After seconds on a 429, or auto: until the window admits "
                       "the next request")  # fmt: skip
    group.add_argument("--work-ms-per-operation", type=float, default=0.0,
                       help="emulated F&O time per operation (a $batch: per part), in ms")  # fmt: skip
    group.add_argument("--extra-clients", type=int, default=0,
                       help="more app registrations: sandbox-client-2 / sandbox-secret-2, ...")  # fmt: skip


def _check_protection(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("throttle_requests", "throttle_execution", "throttle_concurrent"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0")
    if args.throttle_window <= 0:
        parser.error("--throttle-window must be > 0")
    retry = args.throttle_retry_after
    if retry != "auto" and not (retry.isdigit() and int(retry) >= 0):
        parser.error("--throttle-retry-after must be a whole number of seconds or auto")
    if args.work_ms_per_operation < 0 or not 0 <= args.extra_clients <= 100:
        parser.error("--work-ms-per-operation must be >= 0 and --extra-clients 0..100")
    uses = args.throttle_fno or args.extra_clients or args.work_ms_per_operation
    if args.system != "dynamics" and (uses or args.throttle_requests or args.throttle_execution
                                      or args.throttle_concurrent):  # fmt: skip
        parser.error("the service protection and client options are for the dynamics sandbox")


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        app, banner = FACTORIES[args.system](args)
    except (ValueError, OSError) as exc:
        print(f"paybridge-sandbox: error: {exc}", file=sys.stderr)
        sys.exit(2)
    print("\n".join(banner), flush=True)
    tls: dict[str, Any] = {}
    if args.tls_cert is not None:
        tls = {"ssl_certfile": str(args.tls_cert), "ssl_keyfile": str(args.tls_key)}
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning", **tls)
