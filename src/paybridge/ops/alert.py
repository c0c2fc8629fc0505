"""An alert as it travels (queue payload) and as each channel shows it: text, Slack, Teams, JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from paybridge.security.cardguard import redact, redact_text

_COLOURS = {"critical": "attention", "warning": "warning", "info": "accent"}


@dataclass(frozen=True)
class Alert:
    """``status`` is firing, resolved or test; ``facts`` are short strings for a reader."""

    rule: str
    subject: str
    severity: str
    status: str
    summary: str
    at: datetime
    facts: dict[str, str] = field(default_factory=dict)
    installation: str = "PayBridge"
    suppressed: int = 0  # deliveries the channel's rate limit held back before this one

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return dict(redact(data))

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Alert:
        return cls(
            rule=str(data["rule"]), subject=str(data["subject"]), severity=str(data["severity"]),
            status=str(data["status"]), summary=str(data["summary"]),
            at=datetime.fromisoformat(str(data["at"])),
            facts={str(k): str(v) for k, v in (data.get("facts") or {}).items()},
            installation=str(data.get("installation") or "PayBridge"),
            suppressed=int(data.get("suppressed") or 0),
        )  # fmt: skip

    @property
    def title(self) -> str:
        return redact_text(
            f"[{self.installation}] {self.status.upper()} {self.severity} {self.rule}: {self.subject}"
        )

    def text(self) -> str:
        lines = [self.title, "", redact_text(self.summary), ""]
        lines += [redact_text(f"{k}: {v}") for k, v in sorted(self.facts.items())]
        lines.append(f"at: {self.at.isoformat()}")
        if self.suppressed:
            lines.append(f"({self.suppressed} earlier alerts were held back by the rate limit)")
        return "\n".join(lines)

    def slack(self) -> dict[str, Any]:
        return {"text": self.text()}

    def teams(self) -> dict[str, Any]:
        """A message with one Adaptive Card, as a Teams Workflows webhook takes it."""
        facts = [{"title": k, "value": v} for k, v in sorted(self.facts.items())]
        facts.append({"title": "at", "value": self.at.isoformat()})
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": self.title, "weight": "Bolder", "wrap": True,
             "color": _COLOURS.get(self.severity, "default")},
            {"type": "TextBlock", "text": redact_text(self.summary), "wrap": True},
            {"type": "FactSet", "facts": redact(facts)},
        ]  # fmt: skip
        if self.suppressed:
            body.append(
                {"type": "TextBlock", "wrap": True, "isSubtle": True,
                 "text": f"{self.suppressed} earlier alerts were held back by the rate limit"}
            )  # fmt: skip
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4", "body": body,
        }  # fmt: skip
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }

    def event(self) -> dict[str, Any]:
        """The JSON body of a signed webhook: ``type`` alert.<status>, ``data`` the alert."""
        return {
            "type": f"alert.{self.status}",
            "timestamp": self.at.isoformat(),
            "data": self.to_payload(),
        }
