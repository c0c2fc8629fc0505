"""`paybridge-sandbox paytrace|dynamics --port N [--state FILE] [--faults PROFILE]`: serve one emulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _paytrace(state: Path | None, faults: str) -> Any:
    from paybridge_sandbox.paytrace import create_app
    from paybridge_sandbox.paytrace.settings import PayTraceSandboxSettings

    return create_app(PayTraceSandboxSettings(state_path=state, faults_profile=faults))


def _dynamics(state: Path | None, faults: str) -> Any:
    from paybridge_sandbox.dynamics import create_app
    from paybridge_sandbox.dynamics.settings import DynamicsSandboxSettings

    return create_app(DynamicsSandboxSettings(state_path=state, fault_profile=faults))


FACTORIES = {"paytrace": _paytrace, "dynamics": _dynamics}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="paybridge-sandbox",
        description="Serve a local emulator of PayTrace v1 or D365 F&O OData on 127.0.0.1.",
    )
    parser.add_argument("system", choices=sorted(FACTORIES), help="which emulator to serve")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    parser.add_argument("--state", type=Path, default=None, help="SQLite file to keep state in")
    parser.add_argument("--faults", default="none", help="fault profile: none, flaky, chaos")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return args


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        app = FACTORIES[args.system](args.state, args.faults)
    except (ValueError, OSError) as exc:
        print(f"paybridge-sandbox: error: {exc}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
