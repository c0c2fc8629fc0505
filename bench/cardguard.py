"""Card guard cost: scanning 1 MiB hostile bodies, and /health's delay while they are posted.

Usage: python bench/cardguard.py [--rounds N] [--posts N]
Part 1 prints, for each kind of hostile 1 MiB body, the guard's scan time (best of N) next to
``json.loads`` of the same bytes (of the same text as one JSON string when the body is not JSON)
measured in the same run, and their ratio (target: scan < 50 ms).
Part 2 serves the app on a real uvicorn on 127.0.0.1 (a child process, the body limit raised to
2 MiB so that the bodies are read and scanned, not refused by size) and measures /health's answer
time idle and while another client posts the hostile bodies (target: < 100 ms at worst).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx

from paybridge.security.cardguard import ScanBudget, TooDense
from paybridge.security.cardscan import warm_up
from paybridge.web.guard import NestingTooDeep, scan_body

MIB = 1024 * 1024
PAN_ESCAPED = "".join(f"\\u{ord(c):04x}" for c in "4111111111111112")


def hostile() -> dict[str, bytes]:
    """1 MiB bodies built to be slow to scan; none holds a card number."""

    def fill(unit: str, encoding: str = "utf-8") -> bytes:
        size = len(unit.encode(encoding))
        return (unit * (MIB // size)).encode(encoding)

    return {
        '"1 " * 524288': b"1 " * (MIB // 2),
        "repeated UUIDs": fill("3c170d10-0793-4145-9419-1b5f7f6f3e08 "),
        "dotted digits": fill("4111.1111.1111.1112 "),
        "13-digit runs": fill("1111111111111x"),
        "digits and letters": fill("1 x "),
        "full-width digits": fill("４１１１\u3000"),
        "UTF-16 JSON strings": json.dumps(["4111 1111 1111 1112"] * 26_000).encode("utf-16"),
        "escaped digits": ("[" + ",".join([f'"{PAN_ESCAPED}"'] * 10_000) + "]").encode(),
        "int array": ("[" + "1," * (MIB // 2 - 1) + "1]").encode(),
        "exponent floats": ("[" + ",".join(["1.5e3"] * (MIB // 6)) + "]").encode(),
        "nested [": b"[" * MIB,
    }


def best_ms(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def guard(body: bytes) -> str:
    try:
        return "refused" if scan_body(body, "application/json", ScanBudget()) else "clean"
    except TooDense:
        return "refused (dense)"
    except NestingTooDeep:
        return "refused (nesting)"


def baseline_of(body: bytes) -> bytes:
    """What ``json.loads`` is timed on: the body itself when it is JSON, else the same text as one
    JSON string (so that the baseline, too, reads every byte)."""
    try:
        json.loads(body)
    except (ValueError, RecursionError):
        return json.dumps(body.decode(json.detect_encoding(body), "replace")).encode()
    return body


def scan_figures(rounds: int) -> float:
    warm_up()
    worst = 0.0
    print(f"{'body (1 MiB)':24} {'guard':>9} {'json.loads':>11} {'ratio':>7}  verdict")
    for name, body in hostile().items():
        scan = best_ms(lambda body=body: guard(body), rounds)
        same = baseline_of(body)
        loads = best_ms(lambda same=same: json.loads(same), rounds)
        worst = max(worst, scan)
        print(f"{name:24} {scan:7.1f}ms {loads:9.1f}ms {scan / loads:6.1f}x  {guard(body)}")
    print(f"scan: worst {worst:.1f} ms (target < 50 ms)")
    return worst


SERVE = """
import logging, sys, uvicorn
logging.disable(logging.WARNING)  # the refusals are counted by status, not logged here
from paybridge.app.settings import WebSettings
from paybridge.web.app import create_web_app
from paybridge.web.server import EmbeddedServer
app = create_web_app(WebSettings(max_body_bytes=2 * 1024 * 1024))
EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                              lifespan="off")).run()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health_times(client: httpx.Client, until: Callable[[], bool], least: int) -> list[float]:
    times: list[float] = []
    while len(times) < least or not until():
        start = time.perf_counter()
        assert client.get("/health").status_code == 200
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.005)
    return times


def health_figures(posts: int) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            idle = health_times(client, lambda: True, 50)
            bodies = list(hostile().values())
            done = threading.Event()
            codes: list[int] = []

            def poster() -> None:
                with httpx.Client(base_url=base, timeout=60) as other:
                    for i in range(posts):
                        body = bodies[i % len(bodies)]
                        codes.append(other.post("/health", content=body).status_code)
                done.set()

            thread = threading.Thread(target=poster)
            thread.start()
            loaded = health_times(client, done.is_set, 20)
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"/health idle: median {statistics.median(idle):.1f} ms, max {max(idle):.1f} ms")
    print(
        f"/health during {posts} hostile 1 MiB posts (answers {sorted(set(codes))}): "
        f"median {statistics.median(loaded):.1f} ms, max {max(loaded):.1f} ms "
        f"(target < 100 ms); ratio of medians {statistics.median(loaded) / statistics.median(idle):.1f}x"
    )
    return max(loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--posts", type=int, default=44)
    args = parser.parse_args()
    worst_scan = scan_figures(args.rounds)
    worst_health = health_figures(args.posts)
    if worst_scan >= 50 or worst_health >= 100:
        sys.exit(1)


if __name__ == "__main__":
    main()
