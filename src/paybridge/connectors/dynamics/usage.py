"""D365 requests per company (legal entity): who spends the service-protection budget, and a
fair turn for each company while the budget is spent.

F&O counts its limits per principal, not per company; with several companies sharing the
principals, one company's backlog (a big import, a re-run) could take every request of the
window while another company's payments wait. ``CompanyUsage`` counts every request by the
company it is for (``company_scope`` when a caller says so, else the ``dataAreaId`` the
request names, else ``shared``) in the budget's sliding window, and ``admit`` lets a waiting company that has used less of the window go first
(max-min fairness: the least-served company goes first), one caller at a time while the budget
makes callers wait."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from paybridge.clock import Clock, SystemClock

SHARED = "shared"  # a request that names no company ($metadata, a token, a cross-company read)
_SCOPE: ContextVar[str | None] = ContextVar("paybridge_d365_company", default=None)
# dataAreaId eq 'usmf' (filter), dataAreaId='usmf' (key), "dataAreaId": "usmf" (body); the
# URL may be percent-encoded.
_AREA = re.compile(
    r"dataAreaId(?:%20|\+|\s)*(?:eq(?:%20|\+|\s)*|=|\"\s*:\s*)(?:%27|'|\")([A-Za-z0-9]{1,8})",
    re.IGNORECASE,
)

Sleep = Callable[[float], Awaitable[None]]


@contextmanager
def company_scope(company: str) -> Iterator[None]:
    """Every D365 request made inside is counted for ``company``."""
    token = _SCOPE.set(company.lower())
    try:
        yield
    finally:
        _SCOPE.reset(token)


def company_of(url: str, body: bytes | None = None) -> str:
    """The company a request is for: the caller's scope, else the first ``dataAreaId`` the
    URL or the body names, else ``shared``."""
    scoped = _SCOPE.get()
    if scoped:
        return scoped
    found = _AREA.search(url)
    if found is None and body:
        found = _AREA.search(body[:65536].decode("utf-8", "replace"))
    return found.group(1).lower() if found else SHARED


class CompanyUsage:
    """Requests per company: since the process started, and in the last ``window_seconds``."""

    def __init__(
        self,
        window_seconds: float = 300.0,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        quantum: float = 0.005,
    ) -> None:
        self.window_seconds = window_seconds
        self._clock = clock or SystemClock()
        self._sleep = sleep or asyncio.sleep
        self._quantum = quantum
        self._window: deque[tuple[float, str]] = deque()
        self._in_window: Counter[str] = Counter()
        self.totals: Counter[str] = Counter()
        self.waiting: Counter[str] = Counter()
        self.held = 0  # how many times a company was held back for another (fairness at work)
        self.passing = 0  # callers let through to the principals and not yet through them

    def _expire(self, now: float) -> None:
        edge = now - self.window_seconds
        while self._window and self._window[0][0] <= edge:
            _, company = self._window.popleft()
            self._in_window[company] -= 1

    def count(self, company: str) -> None:
        """One request of ``company`` sent."""
        now = self._clock.monotonic()
        self._expire(now)
        self._window.append((now, company))
        self._in_window[company] += 1
        self.totals[company] += 1

    def in_window(self) -> dict[str, int]:
        self._expire(self._clock.monotonic())
        return {c: n for c, n in self._in_window.items() if n > 0}

    def _my_turn(self, company: str) -> bool:
        used = self.in_window()
        mine = used.get(company, 0)
        return all(
            used.get(other, 0) >= mine
            for other, n in self.waiting.items()
            if n > 0 and other != company
        )

    async def admit(self, company: str, saturated: Callable[[], bool]) -> None:
        """Return when ``company`` may go on to the principals. A company waiting that has
        used less of the window goes first (ties: both go); while the budget makes callers
        wait (``saturated``), callers go through one at a time, so the turn decides who gets
        the next free request. ``through`` must follow."""
        self.waiting[company] += 1
        try:
            held = False
            while not self._my_turn(company) or (self.passing > 0 and saturated()):
                if not held and not self._my_turn(company):
                    self.held += 1
                    held = True
                await self._sleep(self._quantum)
        finally:
            self.waiting[company] -= 1
        self.passing += 1

    def through(self) -> None:
        """The caller ``admit`` let through has its principal (or gave up)."""
        self.passing = max(0, self.passing - 1)
