"""Clock skew against each system, from the ``Date`` header of a plain request to its host.

Tokens carry not-before times and PayTrace's exports are asked for by the merchant's day, so a
clock minutes off shows as refused tokens or missed rows. The request carries no credential
(any answer, even a 404, has a ``Date``); its round trip bounds the reading's error.
"""

from __future__ import annotations

import time
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from paybridge.clock import Clock
from paybridge.golive.report import CheckResult, failed, ok

NTP_FIX = "set the host's clock by NTP (e.g. systemd-timesyncd or chrony)"


async def server_skew(http: httpx.AsyncClient, url: str, clock: Clock) -> tuple[float, float]:
    """(server time - our time in seconds, round trip); raises httpx.HTTPError or ValueError."""
    started = time.monotonic()
    before = clock.now()
    response = await http.head(url)
    trip = time.monotonic() - started
    header = response.headers.get("date")
    if not header:
        raise ValueError("no Date header")
    theirs: datetime = parsedate_to_datetime(header)
    middle = before.timestamp() + trip / 2
    return theirs.timestamp() - middle, trip


async def check_skew(
    system: str, http: httpx.AsyncClient, url: str, clock: Clock, limit: float
) -> CheckResult:
    try:
        skew, trip = await server_skew(http, url, clock)
    except (httpx.HTTPError, ValueError, TypeError) as exc:
        return CheckResult(system, "clock", "warn", f"cannot read the server's time: {exc}")
    # The Date header has whole seconds: a second of difference is no skew.
    detail = f"{skew:+.1f}s against {system} (round trip {trip * 1000:.0f} ms)"
    if abs(skew) > limit + 1.0 + trip:
        return failed(system, "clock", detail, NTP_FIX, "", essential=False)
    return ok(system, "clock", detail)
