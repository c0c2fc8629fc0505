"""`paybridge serve` as a process, sent the hostile corpus: afterwards the store, its WAL and the serve
log hold no card number (in any script, encoding or grouping) and no API key secret."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.product import open_world, wait_for
from tests.fuzz.hostile import (
    ENCODINGS,
    body_in,
    digits_seen,
    escaped,
    forms,
    large,
    nested,
    random_pans,
)

pytestmark = pytest.mark.slow
PANS = random_pans(3, seed=14)


def send_corpus(http: httpx.Client, operator: str, admin: str) -> list[int]:
    """Every form of every planted number in the body, query, path and headers; keys in URLs;
    large and nested bodies. Returns the status codes."""
    auth = {"Authorization": f"Bearer {operator}"}
    codes: list[int] = []
    for n, pan in enumerate(PANS):
        for i, written in enumerate(forms(pan)):
            encoding = ENCODINGS[i % len(ENCODINGS)]
            body = body_in(written, encoding, escape=i % 2 == 0)
            key = {"Idempotency-Key": f"k-{n}-{i}"}
            headers = {**auth, **key, "content-type": "application/json"}
            codes.append(http.post("/v1/charges", content=body, headers=headers).status_code)
            codes.append(http.get(f"/v1/charges/{quote(written)}", headers=auth).status_code)
            codes.append(
                http.get(
                    f"/v1/admin/audit?actor=x&actor={quote(written)}",
                    headers={"Authorization": f"Bearer {admin}"},
                ).status_code
            )
            if "\n" in written or "\r" in written:
                continue  # no header can carry a line break
            idem = {
                **auth, "Idempotency-Key": written.encode("utf-8"),
                "content-type": "application/json",
            }  # fmt: skip
            raw = json.dumps({"company": "usmf", "invoice_number": "CIV-1"}).encode()
            codes.append(http.post("/v1/charges", content=raw, headers=idem).status_code)
        exponent = f'{{"company": "usmf", "invoice_number": {pan[0]}.{pan[1:]}e{len(pan) - 1}}}'
        codes.append(http.post("/v1/charges", content=exponent.encode(), headers=auth).status_code)
        escaped_body = f'\ufeff{{"company": "usmf", "invoice_number": "{escaped(pan)}"}}'
        codes.append(
            http.post("/v1/charges", content=escaped_body.encode(), headers=auth).status_code
        )
    for url in (f"/health?api_key={operator}", f"/v1/admin/keys?token={admin}", f"/x?k={admin}"):
        codes.append(http.get(url).status_code)
    for body in (large("spaced ones", 1024 * 1024), nested(100_000), large("uuids", 60_000)):
        codes.append(http.post("/v1/charges", content=body, headers=auth).status_code)
    return codes


def test_after_the_hostile_corpus_no_card_number_or_key_is_kept_or_logged(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        world.write_settings()
        operator, admin = world.api_key("operator"), world.api_key("admin")
        engine = world.start_engine("serve")
        assert world.api_url is not None
        with httpx.Client(base_url=world.api_url, timeout=30) as http:
            codes = send_corpus(http, operator, admin)
            last = http.get("/health?done=1").status_code
        wait_for(
            "the serve log has the last access line",
            lambda: engine.log.read_text(encoding="utf-8", errors="replace"),
            lambda text: "/health?done=1" in text,
            timeout=10,
            watch=[engine],
        )
        engine.stop()
        log = engine.log.read_text(encoding="utf-8", errors="replace")
    stored = sorted(tmp_path.glob("paybridge.db*"))
    assert stored and stored[0].stat().st_size > 0  # the store, and its WAL while there is one
    texts = {f.name: f.read_bytes().decode("utf-8", "replace") for f in stored}
    texts["serve log"] = log
    found = {
        name: sorted(
            {
                f"{pan[-4:]} in line {number}"
                for number, line in enumerate(text.splitlines() if name == "serve log" else [text])
                for pan in PANS
                if pan in digits_seen(line)
            }
        )
        for name, text in texts.items()
    }
    assert {name: hits for name, hits in found.items() if hits} == {}
    secrets = [key.split("_", 2)[2] for key in (operator, admin)]  # pb_<id>_<secret>
    leaks = {name: [s for s in secrets if s in text] for name, text in texts.items()}
    assert {name: s for name, s in leaks.items() if s} == {}
    assert last == 200 and 500 not in codes and 422 in codes and 401 in codes and 413 in codes
    assert '"POST /v1/charges HTTP/1.1" 422' in log  # the access lines are there, masked
