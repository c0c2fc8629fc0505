"""The reference of every setting (``docs/settings.md``), generated from the settings models: each
field's type, default and the comment written above it in its section's class."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from paybridge.app.settings import SECRET_FIELDS, Settings

_FIELD = re.compile(r"^\s+(\w+)\s*:")
# What the models say in no comment of their own.
NOTES = {
    "store.url": "SQLAlchemy URL of the store: `sqlite:///path.db` or `postgresql+psycopg://user@host/db`.",
    "paytrace.base_url": "PayTrace's API root, `https://api.paytrace.com` (a sandbox's URL in tests).",
    "paytrace.timezone": "The merchant's time zone in PayTrace: export dates are its days.",
    "paytrace.currency": "ISO 4217 currency of the PayTrace account.",
    "paytrace.poll_interval_seconds": "How often the change poller reads PayTrace's export.",
    "paytrace.timeout_seconds": "HTTP timeout of one PayTrace call.",
    "paytrace.verify_tls": "Check PayTrace's TLS certificate (a custom CA: `SSL_CERT_FILE`).",
    "dynamics.base_url": "The F&O environment URL, e.g. `https://contoso.operations.dynamics.com` (without `/data`).",
    "dynamics.tenant": "The Entra ID directory (tenant) id of the app registration.",
    "dynamics.client_id": "The app registration's Application (client) ID, registered in F&O under Microsoft Entra ID applications.",
    "dynamics.client_secret": "Entra ID: the app registration's client secret (its Value); AD FS: the server application's shared secret.",
    "dynamics.authority_host": "Entra ID's login host (`https://login.microsoftonline.com`; a sovereign cloud's, or a sandbox's over HTTPS).",
    "dynamics.company": "The legal entity (dataAreaId) payments are posted to.",
    "dynamics.timezone": "The company's time zone: journal days and the cut-off are its days.",
    "dynamics.journal_name": "Journal name of the customer payment journals (its type must be CustPayment).",
    "dynamics.journal_description": "Description of each day's payment journal; `{day}` is the date.",
    "dynamics.bank_account": "Bank account (offset) of the payment lines.",
    "dynamics.payment_method": "Method of payment on the lines (a CustomerPaymentMethods name; empty: none).",
    "dynamics.mark_invoices": "Mark the invoice a payment names for settlement.",
    "dynamics.timeout_seconds": "HTTP timeout of one D365 call (and of the token request).",
    "dynamics.verify_tls": "Check D365's and Entra ID's TLS certificates (a custom CA: `SSL_CERT_FILE`).",
    "worker.batch_size": "Messages one worker claims at a time.",
    "worker.lease_seconds": "How long a claimed message is a worker's before another may take it (renewed while worked on).",
    "worker.idle_seconds": "Wait between two looks at an empty queue.",
    "worker.max_attempts": "Attempts before a message becomes a dead letter (a configuration refusal pauses its topic instead and spends none).",
    "o2c.new_customer_group": "Customer group of D365 customers created from PayTrace profiles.",
    "o2c.new_customer_party_type": "Party type of created customers.",
    "sync.enabled": "Run the two-way customer sync job.",
    "sync.interval_seconds": "How often the customer sync runs.",
    "sync.to_paytrace": "Push D365 customers to PayTrace.",
    "sync.to_d365": "Create D365 customers from PayTrace profiles.",
    "web.host": "Address `serve` listens on.",
    "web.port": "TCP port `serve` listens on.",
    "web.charge_rate_per_second": "Charges per second the API accepts (a token bucket).",
    "web.charge_burst": "Charges the API accepts in a burst.",
    "reconcile.companies": "Per legal entity: the settlement accounts and journal (entries below).",
    "reconcile.heal_on_schedule": "The morning job re-drives what is missing in D365.",
    "reconcile.reports_dir": "Folder of the morning job's reports (None: not kept).",
    "billing.enabled": "Run the subscription billing job.",
    "billing.interval_seconds": "How often the billing run looks for due periods.",
    "billing.dunning": "Retries of refused subscription charges, then the customer on hold.",
    "billing.dunning.hold_status": "CustVendorBlocked value a customer gets when dunning gives up.",
    "billing.dunning.release_status": "CustVendorBlocked value when a later charge succeeds.",
}
HEADER = """# Settings reference

Generated from the settings models by `python -m paybridge.app.reference > docs/settings.md`;
a test fails when this file and the models disagree. Settings come from the YAML file given
with `--config`, overlaid by `PAYBRIDGE__SECTION__KEY` environment variables (which win).
Secrets are never written in the file: a secret setting holds `env:NAME` (read from the
environment) or `vault:NAME` (the credential vault, `paybridge vault set NAME`).
`paybridge init` writes a commented file; `paybridge check` checks it against both systems.
"""


def field_comments(model: type[BaseModel]) -> tuple[dict[str, str], dict[str, str]]:
    """The comment lines right above each field in the class body, joined; and, for a field
    with none under a commented one (no blank line between), that one's (``tls_cert``,
    ``tls_key``): a note in NOTES wins over such a shared comment."""
    comments: dict[str, str] = {}
    shared: dict[str, str] = {}
    pending: list[str] = []
    previous = ""
    for line in inspect.getsource(model).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = _FIELD.match(line)
        if match and match.group(1) in model.model_fields:
            own = " ".join(pending)
            if own:
                comments[match.group(1)] = own
            elif previous:
                shared[match.group(1)] = previous
            previous = own or previous
        else:
            previous = ""
        pending = []
    return comments, shared


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found = []
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
    return found


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    text = text or str(annotation).replace("typing.", "")
    text = re.sub(r"\b[\w.]+\.(\w+)", r"\1", text)
    return text.replace("NoneType", "None").replace("|", " \\| ")


def _default(info: Any) -> str:
    if info.default is PydanticUndefined and info.default_factory is not None:
        value = info.default_factory()
    else:
        value = info.default
    if isinstance(value, SecretStr):
        return f"`{value.get_secret_value()}`"
    if isinstance(value, BaseModel):
        return "(section below)"
    if isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
        return "`{" + ", ".join(value) + "}` (entries below)"
    return f"`{value!r}`" if value not in ("", None) else ("`null`" if value is None else '`""`')


def _section(path: str, model: type[BaseModel]) -> Iterator[str]:
    doc = (model.__doc__ or "").strip()
    yield f"\n## `{path}`\n"
    if doc and not doc.startswith(("Usage docs", "!!!")):
        yield " ".join(doc.split()) + "\n"
    yield "| setting | type | default | what it is |"
    yield "|---|---|---|---|"
    comments, shared = field_comments(model)
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        key = f"{path}.{name}"
        secret = " **Secret**: `env:NAME` or `vault:NAME`." if _is_secret(path, name) else ""
        said = comments.get(name, "") or NOTES.get(re.sub(r"\.<name>", "", key), "")
        said = said or NOTES.get(key, "") or shared.get(name, "")
        text = (said + secret).strip().replace("|", "\\|")
        yield f"| `{key}` | {_type_name(info.annotation)} | {_default(info)} | {text} |"
        origin = typing.get_origin(info.annotation)
        for sub in _models_in(info.annotation):
            suffix = ".<name>" if origin is dict else ""
            nested.append((key + suffix, sub))
    for sub_path, sub in nested:
        yield from _section(sub_path, sub)


def _is_secret(path: str, name: str) -> bool:
    return (path, name) in SECRET_FIELDS or (path == "web" and name == "event_secrets")


def settings_reference() -> str:
    lines = [HEADER]
    for name, info in Settings.model_fields.items():
        for model in _models_in(info.annotation):
            lines.extend(_section(name, model))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(settings_reference(), end="")
