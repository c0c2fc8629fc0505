"""``logging:``, ``metrics:``, ``tracing:`` and ``alerting:`` settings: log level and format,
scrape and probe periods, OpenTelemetry traces, alert rules and the channels they go to."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from paybridge.config import Section

# Libraries whose per-request INFO lines drown the engine's own (httpx logs every poll).
QUIET_LOGGERS = ("httpx", "httpcore", "msal", "urllib3")


class LoggingSettings(Section):
    """``logging:``: the root level, text or one JSON object per line, and chatty libraries."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"
    # These log at WARNING and above only; set to [] to see every HTTP request again.
    quiet: list[str] = Field(default_factory=lambda: list(QUIET_LOGGERS))

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class MetricsSettings(Section):
    """``metrics:``: ``/metrics`` and ``/ready`` of ``paybridge serve``, and process heartbeats."""

    # /metrics needs an API key (role viewer) unless this is false (a scrape on a private network).
    require_key: bool = True
    # Store figures are read at most this often, however often /metrics is scraped.
    cache_seconds: float = Field(default=2.0, ge=0)
    # /ready probes PayTrace and D365 at most this often; requests in between get the last answer.
    probe_seconds: float = Field(default=30.0, gt=0)
    probe_timeout_seconds: float = Field(default=5.0, gt=0)
    # Every engine process writes its heartbeat (and its own counters) this often.
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    # A process silent for longer is reported stale; its row is dropped after a day.
    stale_after_seconds: float = Field(default=60.0, gt=0)


class TracingSettings(Section):
    """``tracing:``: OpenTelemetry traces across poll -> queue -> D365 write (the ``otel`` extra:
    ``pip install 'paybridge[otel]'``; ``paybridge[otel-otlp]`` for the OTLP exporter)."""

    # Record spans: a scheduled job's run, the worker's batch of a topic (a child of the
    # publisher's span, whose context travels with each message), D365 journal line writes.
    # Off: nothing of OpenTelemetry is imported.
    enabled: bool = False
    # otlp: OTLP over HTTP (protobuf) to a collector; console: one JSON span a line on stdout.
    exporter: Literal["otlp", "console"] = "otlp"
    # The collector's OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces (None: the
    # exporter's default, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or http://localhost:4318/v1/traces).
    endpoint: str | None = None
    # service.name of every span's resource.
    service_name: str = Field(default="paybridge", min_length=1)

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"tracing.endpoint: {value!r} is not an http(s) URL")
        return value


class EmailChannel(Section):
    type: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    # starttls: plain connection upgraded with STARTTLS; tls: TLS from the start (465); none: local relays.
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None  # env:NAME or vault:NAME
    sender: str
    to: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0)


class SlackChannel(Section):
    """A Slack incoming webhook (its URL is a secret: env:NAME or vault:NAME)."""

    type: Literal["slack"]
    url: SecretStr
    timeout_seconds: float = Field(default=10.0, gt=0)


class TeamsChannel(Section):
    """A Microsoft Teams incoming webhook (a Workflows "post to a channel" URL; a secret)."""

    type: Literal["teams"]
    url: SecretStr
    timeout_seconds: float = Field(default=10.0, gt=0)


class WebhookChannel(Section):
    """A signed outbound webhook (Standard Webhooks: HMAC-SHA256 of ``id.timestamp.body``)."""

    type: Literal["webhook"]
    url: str
    secret: SecretStr  # env:NAME or vault:NAME; a whsec_<base64> secret or any string
    timeout_seconds: float = Field(default=10.0, gt=0)
    verify_tls: bool = True


Channel = Annotated[
    EmailChannel | SlackChannel | TeamsChannel | WebhookChannel, Field(discriminator="type")
]

RuleKind = Literal[
    "dead_letters", "lag", "in_doubt", "reconcile_differences", "stale_workers", "event"
]
# What the engine itself pushes on the alert topics (the ``event`` rules match these kinds).
DUNNING_KINDS = ("declined", "dunning_exhausted", "on_hold", "released")
# payment_held: insight held a payment for review (only with insight.enabled).
EVENT_KINDS = ("auth_failure", "topic_paused", *DUNNING_KINDS, "payment_held", "test")


class AlertRule(Section):
    """One rule: a condition read from the store, or events of some kinds, to some channels.

    * ``dead_letters``: more than ``above`` new open dead letters of a topic in ``window_seconds``
    * ``lag``: the oldest waiting message of a topic is older than ``above`` seconds
    * ``in_doubt``: more than ``above`` charges in doubt for longer than ``window_seconds``
    * ``reconcile_differences``: the newest reconciliation of a company has more than ``above``
    * ``stale_workers``: an engine process has not beaten for ``above`` seconds
    * ``event``: an alert the engine pushed (``kinds``: auth_failure, topic_paused, dunning...)
    """

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    when: RuleKind
    above: float = Field(default=0, ge=0)
    window_seconds: float = Field(default=300.0, gt=0)
    kinds: list[str] = Field(default_factory=list)
    severity: Literal["info", "warning", "critical"] = "warning"
    # Channel names; empty: every configured channel.
    channels: list[str] = Field(default_factory=list)
    # A condition still true (or the same event again) is sent again after this long.
    repeat_seconds: float = Field(default=4 * 3600.0, gt=0)
    notify_resolved: bool = True

    @model_validator(mode="after")
    def _kinds_for_events(self) -> AlertRule:
        if self.when == "event" and not self.kinds:
            raise ValueError(f"alert rule {self.name}: an event rule needs kinds")
        if self.when != "event" and self.kinds:
            raise ValueError(f"alert rule {self.name}: kinds belong to event rules only")
        return self


def default_rules() -> list[AlertRule]:
    """What an installation with channels but no rules of its own is told about."""
    return [
        AlertRule(name="dead-letters", when="dead_letters"),
        AlertRule(name="lag", when="lag", above=300),
        AlertRule(name="in-doubt-charges", when="in_doubt", window_seconds=900),
        AlertRule(name="reconciliation", when="reconcile_differences"),
        AlertRule(name="stale-workers", when="stale_workers", above=120),
        AlertRule(
            name="authentication",
            when="event",
            kinds=["auth_failure"],
            severity="critical",
            notify_resolved=False,
            repeat_seconds=900,
        ),
        AlertRule(
            name="paused-topics",
            when="event",
            kinds=["topic_paused"],
            severity="critical",
            notify_resolved=False,
            repeat_seconds=900,
        ),
        AlertRule(
            name="dunning",
            when="event",
            kinds=list(DUNNING_KINDS),
            severity="info",
            notify_resolved=False,
        ),
        AlertRule(
            name="held-payments",
            when="event",
            kinds=["payment_held"],
            severity="warning",
            notify_resolved=False,
        ),
    ]


class RateLimit(Section):
    """At most ``count`` deliveries per channel in any ``seconds``; the rest are counted and named
    in the next delivery that goes out."""

    count: int = Field(default=20, ge=1)
    seconds: float = Field(default=3600.0, gt=0)


class AlertingSettings(Section):
    """``alerting:``: rules as data, evaluated every ``evaluate_seconds``, sent to ``channels``."""

    evaluate_seconds: float = Field(default=15.0, gt=0)
    channels: dict[str, Channel] = Field(default_factory=dict)
    rules: list[AlertRule] = Field(default_factory=default_rules)
    rate_limit: RateLimit = RateLimit()
    # Written into every message, so a reader knows which installation speaks.
    installation: str = "PayBridge"

    @model_validator(mode="after")
    def _known_channels(self) -> AlertingSettings:
        names = [rule.name for rule in self.rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"alert rule {twice[0]} is defined twice")
        for rule in self.rules:
            unknown = sorted(set(rule.channels) - set(self.channels))
            if unknown:
                raise ValueError(f"alert rule {rule.name}: no channel named {unknown[0]}")
        return self

    def channels_of(self, rule: AlertRule) -> list[str]:
        return list(rule.channels) if rule.channels else sorted(self.channels)


def plain_secrets(data: object) -> list[str]:
    """Settings (``alerting.channels.<name>.<field>``) that hold a secret written in the file."""
    alerting = data.get("alerting") if isinstance(data, dict) else None
    channels = alerting.get("channels") if isinstance(alerting, dict) else None
    found: list[str] = []
    for name, channel in channels.items() if isinstance(channels, dict) else ():
        if not isinstance(channel, dict):
            continue
        fields = {"email": ("password",), "webhook": ("secret",)}.get(
            str(channel.get("type")), ("url",)
        )
        for field in fields:
            value = channel.get(field)
            if isinstance(value, str) and not value.startswith(("env:", "vault:")):
                found.append(f"alerting.channels.{name}.{field}")
    return found
