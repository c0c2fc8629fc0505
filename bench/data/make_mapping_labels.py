"""Derive the mapping-suggestion labelled set (bench/data/mapping_labels.json) once, from the
shipped templates and the D365 entity field lists in ../shared/specs/d365-entities/.

A label is a target field whose template expression reads exactly one source field: the source
field is the answer. Candidates are every field of the template's source (all of a D365 entity's
fields, every field of a PayTrace record or of the canonical model), with sample values from the
D365 sandbox's seed data and from PayTrace's documented examples. Field names on the two sides
are spelled differently (CustomerAccount <- customer_id, TransactionDate <- occurred_at), so the
set is not trivially string equality; the script prints how many answers equal their target's
name ignoring case and punctuation.

Run: .venv/bin/python bench/data/make_mapping_labels.py  (needs ../shared; the output is shipped)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "specs" / "d365-entities"
TEMPLATES = ROOT / "src" / "paybridge" / "mapping" / "templates"
SEED = ROOT / "src" / "paybridge_sandbox" / "dynamics" / "seed" / "usmf.json"
OUT = Path(__file__).with_name("mapping_labels.json")

# PayTrace records as the spec documents them (§5.10, §13), with example values.
PAYTRACE = {
    "paytrace.transaction_record": {
        "transaction_id": ("integer", ["125391271", "125391272"]),
        "transaction_type": ("string", ["SALE", "REFUND"]),
        "description": ("string", ["INV-1001 order 55"]),
        "amount": ("decimal", ["19.99", "1200.00"]),
        "invoice_id": ("string", ["INV-1001"]),
        "customer_id": ("string", ["CUST-0042"]),
        "customer_reference_id": ("string", ["PO-7781"]),
        "status_code": ("string", ["GB12", "N"]),
        "status_message": ("string", ["Settled", "Voided"]),
        "approval_code": ("string", ["TAS445"]),
        "approval_message": ("string", ["  NO  MATCH - Approved and completed"]),
        "avs_response": ("string", ["No Match", "Full Exact Match"]),
        "csc_response": ("string", ["Match", ""]),
        "credit_card.masked_number": ("string", ["************5454"]),
        "credit_card.expiration_month": ("integer", ["12"]),
        "credit_card.expiration_year": ("integer", ["2030"]),
        "created.at": ("string", ["4/10/2015 4:06:30 PM"]),
        "created.by": ("string", ["apiuser"]),
        "created.through": ("string", ["API"]),
        "created.from_ip": ("string", ["203.0.113.9"]),
        "settled": ("string", ["4/10/2015 8:13:45 PM"]),
        "tax_amount": ("decimal", ["8.10"]),
        "receipt_emailed_to": ("string", ["ap@contoso.com"]),
        "billing_address.name": ("string", ["Jane Doe"]),
        "billing_address.street_address": ("string", ["8320 E. West St."]),
        "billing_address.city": ("string", ["Spokane"]),
        "billing_address.state": ("string", ["WA"]),
        "billing_address.zip": ("string", ["85284"]),
        "billing_address.country": ("string", ["US"]),
        "discretionary_data": ("object", []),
    },
    "paytrace.customer_record": {
        "customer_id": ("string", ["CUST-0042"]),
        "email": ("string", ["jane@contoso.com"]),
        "phone": ("string", ["(509) 555-0100"]),
        "fax": ("string", ["(509) 555-0101"]),
        "billing_address.name": ("string", ["Jane Doe", "Contoso Ltd"]),
        "billing_address.street_address": ("string", ["8320 E. West St."]),
        "billing_address.street_address2": ("string", ["Suite 200"]),
        "billing_address.city": ("string", ["Spokane"]),
        "billing_address.state": ("string", ["WA"]),
        "billing_address.zip": ("string", ["85284"]),
        "billing_address.country": ("string", ["US"]),
        "shipping_address.city": ("string", ["Spokane"]),
        "credit_card.masked_number": ("string", ["************5454"]),
        "discretionary_data": ("object", []),
    },
    "canonical.Transaction": {
        "transaction_id": ("string", ["125391271"]),
        "kind": ("string", ["sale", "refund"]),
        "status": ("string", ["approved", "settled"]),
        "amount.amount": ("decimal", ["19.99", "1200.00"]),
        "amount.currency": ("string", ["USD"]),
        "occurred_at": ("datetime", ["2026-03-02T17:04:11Z"]),
        "customer_id": ("string", ["CUST-0042"]),
        "invoice_id": ("string", ["INV-1001"]),
        "order_id": ("string", ["SO-000123"]),
        "customer_reference_id": ("string", ["PO-7781"]),
        "description": ("string", ["INV-1001 order 55"]),
        "approval_code": ("string", ["TAS445"]),
        "masked_card": ("string", ["************5454"]),
        "settled_at": ("datetime", ["2026-03-03T04:00:00Z"]),
        "batch_number": ("string", ["12"]),
        "avs_response": ("string", ["No Match"]),
        "client_ip": ("string", ["203.0.113.9"]),
    },
}
NOT_FIELDS = {"ctx", "var", "null", "true", "false", "if", "lookup"}
# A label is a direct read: the field, maybe cleaned or converted on its way (these functions),
# never a condition or a computation over it.
DIRECT = {"trim", "upper", "lower", "text", "decimal", "country_alpha3", "country_alpha2",
          "join_lines", "line", "truncate", "alnum", "d365_date", "paytrace_datetime",
          "text_values"}  # fmt: skip


def d365_fields(entity: str) -> dict[str, dict[str, object]]:
    spec = json.loads((SHARED / f"{entity}.json").read_text(encoding="utf-8"))
    keys = set(spec.get("keys", [])) - {"dataAreaId"}
    return {f["name"]: {"type": f["type"], "label": f.get("label", ""), "key": f["name"] in keys}
            for f in spec["fields"]}  # fmt: skip


def d365_samples(entity: str) -> dict[str, list[str]]:
    rows = json.loads(SEED.read_text(encoding="utf-8")).get(entity, [])
    out: dict[str, list[str]] = {}
    for row in rows[:3]:
        for name, value in row.items():
            if value not in (None, ""):
                out.setdefault(name, []).append(str(value))
    return out


def references(expr: str, known: set[str]) -> set[str]:
    text = re.sub(r"'[^']*'|`[^`]*`", " ", expr)
    names = re.findall(r"(?<![\w.'])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?!\s*\()", text)
    return {n for n in names if n in known and n.split(".")[0] not in NOT_FIELDS}


def sources_of(source: str) -> list[dict[str, object]]:
    if source in PAYTRACE:
        return [{"path": p, "type": t, "samples": s} for p, (t, s) in PAYTRACE[source].items()]
    entity = source.split(".", 1)[1]
    samples = d365_samples(entity)
    return [{"path": n, "type": f["type"], "label": f["label"], "key": f["key"],
             "samples": samples.get(n, [])[:3]} for n, f in d365_fields(entity).items()]  # fmt: skip


def task(path: Path) -> dict[str, object] | None:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    entity = str(spec["source"]).split(".", 1)[1]
    if spec["source"] not in PAYTRACE and not (SHARED / f"{entity}.json").is_file():
        return None  # a source the set has no field list for (canonical.JournalLine)
    sources = sources_of(spec["source"])
    known = {str(s["path"]) for s in sources}
    target = spec["target"]
    typed = d365_fields(target.split(".", 1)[1]) if target.startswith("d365.") else {}
    targets = []
    for name, rule in spec.get("fields", {}).items():
        expr = rule if isinstance(rule, str) else str(rule.get("expr", ""))
        found = references(expr, known)
        calls = set(re.findall(r"(\w+)\s*\(", re.sub(r"'[^']*'|`[^`]*`", " ", expr)))
        if len(found) == 1 and calls <= DIRECT | {"ctx"}:
            meta = typed.get(name, {"type": str(rule.get("type", "string")) if isinstance(rule, dict) else "string", "label": ""})  # fmt: skip
            meta.pop("key", None)
            targets.append({"name": name, **meta, "answer": found.pop()})
    return {"template": spec["name"], "source": spec["source"], "target": target,
            "targets": targets, "sources": sources} if targets else None  # fmt: skip


def main() -> int:
    if not SHARED.is_dir():
        print(f"needs {SHARED}", file=sys.stderr)
        return 2
    tasks = [t for p in sorted(TEMPLATES.glob("*.yaml")) if (t := task(p))]
    OUT.write_text(json.dumps({"tasks": tasks}, indent=1) + "\n", encoding="utf-8")
    labels = [(t["target"], x) for t in tasks for x in t["targets"]]  # type: ignore[union-attr]
    same = sum(1 for _, x in labels if re.sub(r"\W|_", "", x["name"]).lower() == re.sub(r"\W|_", "", x["answer"]).lower())  # fmt: skip
    print(
        f"{len(tasks)} templates, {len(labels)} labelled fields, {same} answers equal their target's name; wrote {OUT}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
