"""Loads the packaged USMF-like demo data (``seed/usmf.json``) straight into the store.

Seed rows are stored as-is plus defaults (no business rules: they describe an existing
environment). ``CustTransOpens`` rows name their invoice in ``_refInvoice``; the loader turns it
into the ``RefRecId`` of that invoice's ``CustTransactions`` row.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from paybridge_sandbox.dynamics.schema import Schema
from paybridge_sandbox.dynamics.store import FIRST_REC_ID, Row, Store
from paybridge_sandbox.dynamics.values import ValueError_, coerce, default_value


def read_seed() -> dict[str, Any]:
    text = (
        resources.files("paybridge_sandbox.dynamics")
        .joinpath("seed", "usmf.json")
        .read_text(encoding="utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


def sequence_formats(seed: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec["format"]) for name, spec in seed["sequences"].items()}


def load_seed(store: Store, schema: Schema, seed: dict[str, Any]) -> None:
    for name, spec in seed["sequences"].items():
        store.sequences[name] = int(spec["last"])
    invoices: dict[tuple[str, str], int] = {}
    for entity_set, rows in seed["rows"].items():
        for raw in rows:
            rec_id = _insert(store, schema, entity_set, raw, invoices)
            if entity_set == "CustTransactions":
                invoices[(raw["dataAreaId"], raw["Invoice"])] = rec_id


def _insert(
    store: Store,
    schema: Schema,
    entity_set: str,
    raw: dict[str, Any],
    invoices: dict[tuple[str, str], int],
) -> int:
    entity = schema.sets[entity_set]
    values = {f.name: default_value(entity, f, schema) for f in entity.fields}
    for name, value in raw.items():
        if name.startswith("_"):
            continue
        try:
            values[name] = coerce(entity.by_name[name], value, schema)
        except ValueError_ as exc:
            raise ValueError(f"seed {entity_set}.{name}: {exc.message}") from None
    rec_id = store.new_rec_id()
    if "SysRecId" in values:
        values["SysRecId"] = rec_id
    if "_refInvoice" in raw:
        values["RefRecId"] = invoices[(raw["dataAreaId"], raw["_refInvoice"])]
    if entity_set == "MainAccounts":
        values["MainAccountRecId"] = rec_id
        values["ChartOfAccountsRecId"] = FIRST_REC_ID  # one shared chart of accounts
    table = store.table(entity_set)
    table.put(table.key_of(values), Row(values, rec_id, 1))
    return rec_id
