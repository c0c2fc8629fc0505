"""One access check's results: a line per check with ✓/✗, what was found, and the fix for a ✗."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from paybridge.errors import ConfigError, PayBridgeError

Status = Literal["ok", "fail", "warn", "skip"]
MARKS: dict[Status, str] = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}


@dataclass(frozen=True)
class CheckResult:
    """``fix`` says, in words, what to change; ``setting`` names it. ``essential`` checks stop
    ``worker``/``serve`` from starting when they fail for certain (not ``transient``)."""

    system: str
    name: str
    status: Status
    detail: str = ""
    fix: str = ""
    setting: str = ""
    essential: bool = False
    transient: bool = False

    @property
    def mark(self) -> str:
        return MARKS[self.status]

    def line(self) -> str:
        """One clear line: what failed (its first sentence), and what to do about it."""
        head = f"{self.system} {self.name}: {brief(self.detail)}".rstrip(": ")
        return f"{head} — {self.fix}" if self.fix else head


def brief(text: str, limit: int = 160) -> str:
    """The first sentence of ``text`` (other systems' messages run on), at most ``limit`` long."""
    cut = text.find(". ", 20)
    text = text[: cut + 1] if cut > 0 else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ok(system: str, name: str, detail: str = "", *, essential: bool = False) -> CheckResult:
    return CheckResult(system, name, "ok", detail, essential=essential)


def failed(
    system: str, name: str, detail: str, fix: str, setting: str, *, essential: bool = False
) -> CheckResult:
    return CheckResult(system, name, "fail", detail, fix, setting, essential)


def from_error(
    system: str, name: str, exc: PayBridgeError, fix: str, setting: str, *, essential: bool
) -> CheckResult:
    """A failed probe. Only a refusal (ConfigError: credentials, rights, a missing service)
    proves a setting wrong; anything else (unreachable, 5xx, 429, an odd answer) may pass."""
    transient = not isinstance(exc, ConfigError)
    return CheckResult(
        system, name, "fail", exc.message, fix, setting, essential, transient=transient
    )


@dataclass
class AccessReport:
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    # When the check's D365 calls as the main principal ended (monotonic seconds): the engine
    # started next counts them in its service-protection window.
    d365_calls: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.status == "fail" for r in self.results)

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    def blocking(self) -> list[CheckResult]:
        """Essentials that failed for certain: ``worker``/``serve`` refuse to start on these."""
        return [r for r in self.failures() if r.essential and not r.transient]

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "checks": [asdict(r) for r in self.results],
        }
