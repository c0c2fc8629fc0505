"""POST /v1/charges against both sandboxes: approve, decline, repeats, conflicts, in-doubt, refusals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.charging.service import ChargeRequest
from tests.integration.charging.conftest import ChargeWorld, open_profile

pytestmark = pytest.mark.anyio
SALE_PATH = "/v1/transactions/sale/by_customer"


def invoice_body(invoice: str = "CIV-000101", **extra: Any) -> dict[str, Any]:
    return {"company": "usmf", "invoice_number": invoice, **extra}


async def test_an_approved_charge_answers_201_and_enters_order_to_cash(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    response = await world.api.post(
        "/v1/charges", json=invoice_body(amount="125.40"), headers=world.headers(key="k-approve")
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "approved" and body["mode"] == "sale"
    assert body["amount"] == {"amount": "125.40", "currency": "USD"}
    assert body["approval_code"] and body["transaction_id"]
    (txn,) = world.paytrace_transactions("CIV-000101")
    assert str(txn.transaction_id) == body["transaction_id"]
    assert txn.customer_id == "SHOP-1" and "k-approve" in txn.description
    assert Decimal(str(txn.amount)) == Decimal("125.40")
    key = f"paytrace:{body['transaction_id']}:sale"
    assert body["payment_event"] == {"key": key, "new": True}
    payload = world.engine.store.queue.payload(key)
    assert payload is not None and payload["invoice_id"] == "CIV-000101"
    assert payload["amount"] == {"amount": "125.40", "currency": "USD"}
    (seen,) = world.engine.store.ledger.sightings(key)
    assert seen["source"] == "api" and seen["message"]["status"] == "ready"


async def test_without_an_amount_the_open_amount_is_charged(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-2", "US-002")
    response = await world.api.post(
        "/v1/charges", json=invoice_body("CIV-000102"), headers=world.headers(key="k-open")
    )
    assert response.status_code == 201
    assert response.json()["amount"] == {"amount": "2500.50", "currency": "USD"}


async def test_a_decline_answers_402_with_the_reason_and_is_final(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    headers = world.headers(key="k-decline")
    first = await world.api.post("/v1/charges", json=invoice_body(amount="1.12"), headers=headers)
    again = await world.api.post("/v1/charges", json=invoice_body(amount="1.12"), headers=headers)
    assert first.status_code == 402 and again.status_code == 402
    body = first.json()
    assert body["status"] == "declined" and body["reason"] and body["transaction_id"]
    assert "declin" in body["reason"].lower() or "honor" in body["reason"].lower()
    assert again.json()["transaction_id"] == body["transaction_id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(world.paytrace_transactions("CIV-000101")) == 1
    decline = f"paytrace:{body['transaction_id']}:decline"
    assert world.engine.store.queue.payload(decline) is not None  # readable reason for the order


async def test_a_repeated_key_answers_the_same_without_a_second_charge(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    headers = world.headers(key="k-repeat")
    first = await world.api.post("/v1/charges", json=invoice_body(amount="10.00"), headers=headers)
    # The same body, spelled differently (company case, trailing zero), is the same request.
    same = invoice_body(amount="10.0", company="USMF")
    second = await world.api.post("/v1/charges", json=same, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json()["transaction_id"] == first.json()["transaction_id"]
    assert second.json()["replayed"] is True and first.json()["replayed"] is False
    assert len(world.paytrace_transactions("CIV-000101")) == 1


async def test_a_key_reused_for_another_body_is_409(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    headers = world.headers(key="k-conflict")
    first = await world.api.post("/v1/charges", json=invoice_body(amount="10.00"), headers=headers)
    other = await world.api.post("/v1/charges", json=invoice_body(amount="11.00"), headers=headers)
    assert first.status_code == 201
    assert other.status_code == 409
    assert "different request" in other.json()["error"]["message"]
    assert len(world.paytrace_transactions("CIV-000101")) == 1


async def test_commit_then_drop_then_retries_make_exactly_one_charge(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-3", "US-003")
    world.pt_app.state.faults.script("commit_then_drop", path=SALE_PATH)
    headers = world.headers(key="k-doubt")
    body = invoice_body("CIV-000103", amount="99.99")
    first = await world.api.post("/v1/charges", json=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "in_doubt" and first.json()["transaction_id"] is None
    answers = [await world.api.post("/v1/charges", json=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    (txn,) = world.paytrace_transactions("CIV-000103")
    assert {a.json()["transaction_id"] for a in answers} == {str(txn.transaction_id)}
    state = await world.api.get("/v1/charges/k-doubt", headers=world.headers("viewer"))
    assert state.json()["status"] == "approved"


async def test_the_runtime_resolves_an_in_doubt_charge_into_one_charge(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-3", "US-003")
    world.pt_app.state.faults.script("commit_then_drop", path=SALE_PATH)
    body = invoice_body("CIV-000103", amount="42.00")
    first = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-rt"))
    assert first.status_code == 202
    viewer = world.headers("viewer")
    assert (await world.api.get("/v1/charges/k-rt", headers=viewer)).json()["status"] == "in_doubt"

    assert await world.engine.worker.run_once() == 1  # the charge.resolve message
    state = (await world.api.get("/v1/charges/k-rt", headers=viewer)).json()
    (txn,) = world.paytrace_transactions("CIV-000103")
    assert state["status"] == "approved" and state["transaction_id"] == str(txn.transaction_id)
    key = f"paytrace:{txn.transaction_id}:sale"
    assert state["payment_event"] == {"key": key, "new": True}
    # A later poll of the same fact is a counted duplicate, not a second payment message.
    result = await world.engine.ingest.poll_once()
    assert result.duplicates >= 1
    messages = [s for s in world.engine.store.ledger.sightings(key) if s["message"]]
    assert len(messages) == 1 and messages[0]["duplicates"] == 1
    again = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-rt"))
    assert again.status_code == 201 and len(world.paytrace_transactions("CIV-000103")) == 1


async def test_an_absent_charge_after_the_grace_is_open_and_a_retry_sends_it(
    world: ChargeWorld,
) -> None:
    await open_profile(world.engine, "SHOP-4", "US-004")
    # A reset: the request never reached PayTrace, but PayBridge cannot know that.
    world.pt_app.state.faults.script("reset", path=SALE_PATH)
    body = invoice_body("CIV-000104", amount="5.00")
    first = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-gone"))
    assert first.status_code == 202
    retry = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-gone"))
    assert retry.status_code == 202  # within the grace "not found" proves nothing
    assert world.paytrace_transactions("CIV-000104") == []

    world.clock.advance(world.service.in_doubt_grace.total_seconds() + 1)
    assert await world.engine.worker.run_once() == 1
    state = await world.api.get("/v1/charges/k-gone", headers=world.headers("viewer"))
    assert state.json()["status"] == "open" and "nothing was charged" in state.json()["reason"]
    final = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-gone"))
    assert final.status_code == 201
    assert len(world.paytrace_transactions("CIV-000104")) == 1


async def test_authorization_mode_authorizes_and_publishes_an_authorization(
    world: ChargeWorld,
) -> None:
    await open_profile(world.engine, "SHOP-5", "US-005")
    body = {"company": "usmf", "sales_order_number": "000605", "mode": "authorization"}
    response = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-auth"))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["mode"] == "authorization" and answer["sales_order_number"] == "000605"
    assert answer["amount"] == {"amount": "5000.00", "currency": "USD"}
    (txn,) = world.paytrace_transactions("000605")
    assert txn.transaction_type == "AUTHORIZATION"
    assert answer["payment_event"]["key"] == f"paytrace:{txn.transaction_id}:authorization"
    payload = world.engine.store.queue.payload(answer["payment_event"]["key"])
    assert payload is not None and payload["order_id"] == "000605"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (invoice_body(amount="0"), "amount"),
        (invoice_body(amount="1000.01"), "amount"),
        (invoice_body(amount=12.3), "amount"),
        (invoice_body(amount="1.234"), "amount"),
        ({"company": "usmf"}, "body"),
        (invoice_body(sales_order_number="000601"), "body"),
        (invoice_body("CIV-999999"), "invoice_number"),
        (invoice_body(mode="refund"), "mode"),
        (invoice_body(card="x"), "card"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    world: ChargeWorld, body: dict[str, Any], field: str
) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    response = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-bad"))
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]
    assert world.paytrace_transactions("CIV-000101") == []


async def test_a_customer_without_a_paytrace_profile_is_422(world: ChargeWorld) -> None:
    response = await world.api.post(
        "/v1/charges", json=invoice_body("CIV-000102"), headers=world.headers(key="k-noxref")
    )
    assert response.status_code == 422
    problem = response.json()["error"]["fields"]["invoice_number"]
    assert "US-002" in problem and "PayTrace profile" in problem
    # Nothing was charged, so the key is open: once linked, the same request goes through.
    await open_profile(world.engine, "SHOP-2", "US-002")
    retry = await world.api.post(
        "/v1/charges", json=invoice_body("CIV-000102"), headers=world.headers(key="k-noxref")
    )
    assert retry.status_code == 201


async def test_a_missing_idempotency_key_is_422_naming_the_header(world: ChargeWorld) -> None:
    response = await world.api.post("/v1/charges", json=invoice_body(), headers=world.headers())
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["fields"]


async def test_a_card_number_never_gets_in(world: ChargeWorld) -> None:
    body = invoice_body(note="4012000098765439")
    response = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-pan"))
    assert response.status_code == 422
    assert "4012000098765439" not in response.text


async def test_unauthenticated_is_401_and_a_viewer_is_403(world: ChargeWorld) -> None:
    body = invoice_body(amount="10.00")
    anonymous = await world.api.post("/v1/charges", json=body, headers={"Idempotency-Key": "k1"})
    viewer = await world.api.post("/v1/charges", json=body, headers=world.headers("viewer", "k1"))
    assert anonymous.status_code == 401 and viewer.status_code == 403
    assert world.paytrace_transactions("CIV-000101") == []
    unknown = await world.api.get("/v1/charges/nope", headers=world.headers("viewer"))
    assert unknown.status_code == 404


async def test_the_openapi_document_describes_charges_and_events(world: ChargeWorld) -> None:
    spec = (await world.api.get("/openapi.json", headers=world.headers("viewer"))).json()
    post = spec["paths"]["/v1/charges"]["post"]
    assert {"201", "202", "402", "409", "422", "429"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    events = spec["paths"]["/v1/events"]["post"]
    schema = events["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"type", "transaction_id", "account"}  # issue 17


async def test_a_repeat_while_the_first_is_in_flight_is_409_in_progress(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    body = invoice_body(amount="8.00")
    # Another request holds the key (its PayTrace call has not come back yet).
    world.service.records.claim("k-busy", ChargeRequest.model_validate(body))
    response = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-busy"))
    assert response.status_code == 409 and response.headers["retry-after"] == "1"
    assert "in progress" in response.json()["error"]["message"]
    state = await world.api.get("/v1/charges/k-busy", headers=world.headers("viewer"))
    assert state.json()["status"] == "in_progress"
    assert world.paytrace_transactions("CIV-000101") == []


async def test_a_charge_abandoned_by_a_dead_process_is_swept_and_resolved(
    world: ChargeWorld,
) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    body = invoice_body(amount="9.00")
    first = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-dead"))
    assert first.status_code == 201
    # Replay the crash: the row is back to pending as if the process died after PayTrace answered
    # and before the outcome was written; the intent says the charge was sent.
    from sqlalchemy import update

    from paybridge.keys import CHARGE_STEP
    from paybridge.runtime.intents import SENT
    from paybridge.store.schema import intents
    from paybridge.store.schema_charges import charges

    with world.engine.store.engine.begin() as conn:
        conn.execute(update(charges).values(status="pending", outcome="{}"))
        conn.execute(update(intents).where(intents.c.step == CHARGE_STEP).values(status=SENT))
    assert await world.service.sweep() == "no abandoned charges"  # not stale yet
    world.clock.advance(world.service.in_doubt_grace.total_seconds() + 1)
    assert await world.service.sweep() == "1 abandoned charges sent to the resolver"
    await world.engine.worker.run_once()  # the resolve message (and the charge's payment)
    assert world.engine.worker.stats.by_topic["charge.resolve"] == 1
    state = (await world.api.get("/v1/charges/k-dead", headers=world.headers("viewer"))).json()
    assert (
        state["status"] == "approved" and state["transaction_id"] == first.json()["transaction_id"]
    )
    assert len(world.paytrace_transactions("CIV-000101")) == 1
    assert state["payment_event"]["new"] is False  # the first answer had published it


async def test_the_resolver_dead_letters_an_unknown_key(world: ChargeWorld) -> None:
    from paybridge.runtime.envelope import Envelope

    env = Envelope(topic="charge.resolve", key="x", partition_key="x", payload={})
    (outcome,) = await world.service.resolve([env])
    assert outcome.status == "dead"


async def test_a_currency_other_than_the_merchants_is_422(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    world.service.currency = "CAD"
    response = await world.api.post(
        "/v1/charges", json=invoice_body(), headers=world.headers(key="k-cad")
    )
    assert response.status_code == 422
    assert "merchant currency CAD" in response.json()["error"]["fields"]["invoice_number"]


async def test_an_approved_charge_becomes_one_d365_payment_line(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    charged = await world.api.post(
        "/v1/charges", json=invoice_body(amount="64.10"), headers=world.headers(key="k-o2c")
    )
    tid = charged.json()["transaction_id"]
    await world.engine.ingest.poll_once()  # the poller sees the same sale: a duplicate
    while await world.engine.worker.run_once():
        pass
    rows = await world.engine.dynamics.query("CustomerPaymentJournalLines", None)
    mine = [row for row in rows if tid in str(row.get("PaymentReference", ""))]
    assert len(mine) == 1, rows
    assert Decimal(str(mine[0]["CreditAmount"])) == Decimal("64.10")
    assert world.engine.store.queue.stats().dead == 0


async def test_an_in_doubt_decline_is_found_as_a_decline(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    world.pt_app.state.faults.script("commit_then_drop", path=SALE_PATH)
    body = invoice_body(amount="1.12")
    first = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-dd"))
    again = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-dd"))
    assert first.status_code == 202 and again.status_code == 402
    (txn,) = world.paytrace_transactions("CIV-000101")
    assert again.json()["transaction_id"] == str(txn.transaction_id) and again.json()["reason"]


async def test_a_profile_paytrace_does_not_know_is_refused_and_the_key_stays_open(
    world: ChargeWorld,
) -> None:
    world.engine.store.xref.link("paytrace_customer", "GHOST-1", "usmf/US-001")
    body = invoice_body(amount="3.00")
    response = await world.api.post("/v1/charges", json=body, headers=world.headers(key="k-gh"))
    assert 400 <= response.status_code < 500 and response.status_code != 409, response.text
    assert response.json()["error"]["message"]
    state = await world.api.get("/v1/charges/k-gh", headers=world.headers("viewer"))
    assert state.json()["status"] == "open"
    assert world.paytrace_transactions("CIV-000101") == []


async def test_every_refused_charge_is_an_audit_row_with_the_reason_never_the_input(
    world: ChargeWorld,
) -> None:
    """Issue 14 item 6: refused API charges (4xx) left no audit row."""
    await open_profile(world.engine, "SHOP-1", "US-001")
    post = world.api.post
    declined = await post("/v1/charges", json=invoice_body(amount="1.12"),
                          headers=world.headers(key="a-decl"))  # fmt: skip
    too_much = await post("/v1/charges", json=invoice_body(amount="999999.00"),
                          headers=world.headers(key="a-over"))  # fmt: skip
    no_profile = await post("/v1/charges", json=invoice_body("CIV-000102"),
                            headers=world.headers(key="a-noprof"))  # fmt: skip
    invalid = await post("/v1/charges", json=invoice_body(mode="refund-SECRETISH"),
                         headers=world.headers(key="a-bad"))  # fmt: skip
    no_key = await post("/v1/charges", json=invoice_body(), headers=world.headers())
    assert [r.status_code for r in (declined, too_much, no_profile, invalid, no_key)] == [
        402, 422, 422, 422, 422,
    ]  # fmt: skip

    rows = {r.target: r for r in world.security.audit.search(action="charge.create")}
    operator = world.security.api_keys.verify(world.tokens["operator"])
    assert operator is not None
    assert {r.actor for r in rows.values()} == {f"key:{operator.key_id}"}
    assert rows["charge:a-decl"].outcome == "declined"
    assert "reason" in rows["charge:a-decl"].detail
    over = rows["charge:a-over"]
    assert over.outcome == "refused" and "exceeds what is open" in over.detail
    assert '"amount": "999999.00"' in over.detail and '"invoice": "CIV-000101"' in over.detail
    assert rows["charge:a-noprof"].outcome == "refused"
    assert "PayTrace profile" in rows["charge:a-noprof"].detail
    bad = rows["charge:a-bad"]
    assert bad.outcome == "invalid" and "body.mode" in bad.detail
    assert "SECRETISH" not in bad.detail  # where and what kind, never the value sent
    missing = rows["POST /v1/charges"]  # no key: the row names the route
    assert missing.outcome == "invalid" and "header.Idempotency-Key" in missing.detail
    assert world.security.audit.verify().ok


async def test_reading_the_audit_log_through_the_api_is_audited(world: ChargeWorld) -> None:
    admin = world.headers("admin")
    listed = await world.api.get("/v1/admin/audit", params={"action": "auth."}, headers=admin)
    verified = await world.api.get("/v1/admin/audit/verify", headers=admin)
    assert listed.status_code == 200 and verified.status_code == 200, verified.text
    body = verified.json()
    assert body["ok"] and body["anchored_seq"] == body["rows"] and body["key_ids"]
    reads = world.security.audit.search(action="audit.")
    assert [r.action for r in reads] == ["audit.verify", "audit.list"]
    assert '"action": "auth."' in reads[1].detail
