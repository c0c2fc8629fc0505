"""``paytrace:`` settings: where the gateway is, the credentials' references, the merchant's zone."""

from __future__ import annotations

from pydantic import Field, SecretStr

from paybridge.config import Section


class PayTraceSettings(Section):
    base_url: str = "https://api.paytrace.com"
    username: SecretStr = SecretStr("env:PAYTRACE_USERNAME")
    password: SecretStr = SecretStr("env:PAYTRACE_PASSWORD")
    integrator_id: SecretStr = SecretStr("env:PAYTRACE_INTEGRATOR_ID")
    timezone: str = "America/Los_Angeles"
    currency: str = "USD"
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    timeout_seconds: float = Field(default=90.0, gt=0)
    verify_tls: bool = True
    # PayTrace Protect's hosted fields script, loaded by the card-on-file page (PayTrace's
    # sandbox account: https://protect.sandbox.paytrace.com/js/protect.min.js).
    protect_js_url: str = "https://protect.paytrace.com/js/protect.min.js"
    # The v1 path of the check (ACH) export: not public (spec §13); the emulator's by default.
    check_export_path: str = "/v1/checks/export/by_date_range"
