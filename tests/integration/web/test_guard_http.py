"""The card guard over HTTP: every encoding, separator and place a card number can come in is refused,
the refusal never repeats it, and hostile bodies are bounded (413, 422, never 500)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from paybridge.security.webhooks import sign
from tests.conftest import asgi_client
from tests.integration.web.support import EVENT_SECRET, SecuredApp, secured_app

BASE = "http://paybridge.test"
PAN = "4012000098765439"
DOTTED = "4012.0000.9876.5439"
pytestmark = pytest.mark.anyio


@pytest.fixture
def world(tmp_path: Path) -> SecuredApp:
    return secured_app(f"sqlite:///{tmp_path / 'pb.db'}")


def digits_of(text: str) -> str:
    """Every decimal digit in ``text``, in order, whatever its script: what a reader could piece
    together."""
    return "".join(str(int(ch)) for ch in text if ch.isdecimal())


def assert_never_echoed(text: str) -> None:
    assert PAN not in digits_of(text) and "5439" not in text


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What PayBridge logged (not the test client's own request lines)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("paybridge"))


def escaped(value: str) -> str:
    """``value`` as a JSON string of \\uXXXX escapes only."""
    return "".join(f"\\u{ord(ch):04x}" for ch in value)


# The body {"invoice_number": PAN} as the framework will accept it, each way the guard missed.
BODIES = {
    "utf-16-le": json.dumps({"invoice_number": PAN}).encode("utf-16-le"),
    "utf-16-be": json.dumps({"invoice_number": PAN}).encode("utf-16-be"),
    "utf-16 with bom": json.dumps({"invoice_number": PAN}).encode("utf-16"),
    "utf-32-le": json.dumps({"invoice_number": PAN}).encode("utf-32-le"),
    "utf-32 with bom": json.dumps({"invoice_number": PAN}).encode("utf-32"),
    "utf-8 bom and escapes": b"\xef\xbb\xbf" + f'{{"invoice_number": "{escaped(PAN)}"}}'.encode(),
    "escaped separators": f'{{"invoice_number": "{escaped(DOTTED)}"}}'.encode(),
    "full-width": json.dumps({"invoice_number": "４０１２ ００００ ９８７６ ５４３９"}).encode(),
    "arabic-indic": json.dumps({"invoice_number": "٤٠١٢٠٠٠٠٩٨٧٦٥٤٣٩"}, ensure_ascii=False).encode(),
    "zero-width": json.dumps({"invoice_number": "4012\u200b0000\u200b9876\u200b5439"}).encode(),
    "8+8": json.dumps({"invoice_number": "40120000 98765439"}).encode(),
    "letters in front": json.dumps({"invoice_number": f"card{PAN}"}).encode(),
    "dots": json.dumps({"invoice_number": DOTTED}).encode(),
    "newlines": json.dumps({"invoice_number": "4012\n0000\n9876\n5439"}).encode(),
    "exponent": b'{"invoice_number": 4.012000098765439e15}',
    "key": json.dumps({PAN: "x"}).encode(),
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_a_card_number_in_any_encoding_is_refused_and_never_echoed(
    world: SecuredApp, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with asgi_client(world.app, BASE) as client:
        response = await client.post(
            "/v1/charges", content=body,
            headers={**world.auth("operator"), "content-type": "application/json"},
        )  # fmt: skip
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert list(fields.values()) == ["card number"]
    assert_never_echoed(response.text)
    assert_never_echoed(server_log(caplog))
    refused = world.security.audit.search(action="guard.card_data_refused")
    assert refused and all(PAN not in digits_of(row.detail + row.target) for row in refused)


async def test_a_signed_event_with_an_exponent_is_refused(world: SecuredApp) -> None:
    body = b'{"type": "payment.processed", "transaction_id": 4.012000098765439e15}'
    ts = int(world.clock.now().timestamp())
    headers = {
        "webhook-id": "msg_1", "webhook-timestamp": str(ts),
        "webhook-signature": sign(EVENT_SECRET, "msg_1", ts, body),
        "content-type": "application/json",
    }  # fmt: skip
    async with asgi_client(world.app, BASE) as client:
        response = await client.post("/events/test", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"$.transaction_id": "card number"}


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"Idempotency-Key": DOTTED}, "header.idempotency-key"),
        ({"webhook-id": f"msg_{PAN}"}, "header.webhook-id"),
        ({"X-Note": "4012 0000 9876 5439"}, "header.x-note"),
    ],
)
async def test_a_card_number_in_a_header_is_refused_and_never_kept(
    world: SecuredApp, headers: dict[str, str], field: str
) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.post(
            "/v1/charges", json={"company": "usmf"}, headers={**world.auth("operator"), **headers}
        )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {field: "card number"}
    assert_never_echoed(response.text)


@pytest.mark.parametrize(
    "query",
    [
        f"actor=ok&actor={DOTTED}",  # a repeated parameter: the first value is not the only one
        f"actor=%EF%BC%94%EF%BC%90%EF%BC%91%EF%BC%92{PAN[4:]}",
        f"{PAN}=1",  # the name, too
    ],
)
async def test_a_card_number_anywhere_in_the_query_is_refused(
    world: SecuredApp, query: str
) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.get(f"/v1/admin/audit?{query}", headers=world.auth("admin"))
    assert response.status_code == 422
    assert_never_echoed(response.text)


async def test_a_card_number_in_the_path_is_refused_and_withheld(
    world: SecuredApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with asgi_client(world.app, BASE) as client:
        response = await client.get(f"/v1/charges/{DOTTED}", headers=world.auth("operator"))
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"path": "card number"}
    assert_never_echoed(server_log(caplog))
    [row] = world.security.audit.search(action="guard.card_data_refused")
    assert row.target == "GET [path withheld]"


async def test_ids_timestamps_and_amounts_pass(world: SecuredApp) -> None:
    body = {
        "request_id": "3c170d10-0793-4145-9419-1b5f7f6f3e08",
        "ids": ["3c170d10-0793-4145-9419-123456789012"] * 50,
        "at": "2026-03-10T18:00:00.123456+00:00",
        "amounts": ["12.50", 1234567.89, 13.75, "2,000.00"],
        "note": "paid 2026-03-10 18:00:00.000017 688326.59 USD",
    }
    headers = {**world.auth("operator"), "Idempotency-Key": "order-2026-03-10-0001"}
    async with asgi_client(world.app, BASE) as client:
        response = await client.post("/v1/charges", json=body, headers=headers)
    assert response.status_code == 200


async def test_deep_nesting_is_a_4xx_json_error_not_a_500(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.post(
            "/v1/charges", content=b"[" * 60_000, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "body": "the JSON body is nested deeper than it can be read"
    }


HOSTILE = {
    "spaced ones": b"1 " * (512 * 1024),
    "uuids": b"3c170d10-0793-4145-9419-1b5f7f6f3e08 " * 28_000,
    "dotted digits": b"4111.1111.1111.1112 " * 50_000,
    "nested": b"[" * (1024 * 1024),
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_a_hostile_mebibyte_is_refused_by_size_before_it_is_read(
    world: SecuredApp, body: bytes
) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.post("/v1/charges", content=body)
    assert response.status_code == 413
    assert response.json()["error"]["fields"] == {
        "body": "at most 65536 bytes (web.max_body_bytes)"
    }


async def test_with_the_limit_raised_hostile_bodies_get_a_4xx_answer(tmp_path: Path) -> None:
    world = secured_app(f"sqlite:///{tmp_path / 'pb.db'}", max_body=2 * 1024 * 1024)
    async with asgi_client(world.app, BASE) as client:
        codes = {
            name: (await client.post("/v1/charges", content=body, headers=world.auth("operator")))
            for name, body in HOSTILE.items()
        }
    assert {name: r.status_code for name, r in codes.items()} == {
        "spaced ones": 422, "uuids": 200, "dotted digits": 422, "nested": 422,
    }  # fmt: skip
    assert "too many long digit sequences" in codes["spaced ones"].json()["error"]["fields"]["body"]


@pytest.mark.parametrize(
    "url", ["/v1/admin/keys?api_key={token}", "/v1/admin/keys?x={token}", "/health?token=abc"]
)
async def test_an_api_key_in_the_url_is_401_and_not_echoed(world: SecuredApp, url: str) -> None:
    token = world.tokens["admin"]
    async with asgi_client(world.app, BASE) as client:
        response = await client.get(url.format(token=token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert token.split("_", 2)[2] not in response.text
    assert "Authorization header" in response.json()["error"]["message"]


async def test_the_openapi_document_needs_a_key_and_there_are_no_cdn_pages(
    world: SecuredApp,
) -> None:
    async with asgi_client(world.app, BASE) as client:
        anonymous = await client.get("/openapi.json")
        viewer = await client.get("/openapi.json", headers=world.auth("viewer"))
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
    assert anonymous.status_code == 401
    assert viewer.status_code == 200 and "/v1/admin/keys" in viewer.json()["paths"]
    assert docs.status_code == 404 and redoc.status_code == 404


async def test_x_forwarded_for_is_believed_from_trusted_proxies_only(tmp_path: Path) -> None:
    plain = secured_app(f"sqlite:///{tmp_path / 'a.db'}")
    proxied = secured_app(f"sqlite:///{tmp_path / 'b.db'}", trusted_proxies=["127.0.0.0/8"])
    spoof = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    for world in (plain, proxied):
        transport = httpx.ASGITransport(world.app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            await client.get("/v1/admin/keys", headers=spoof)
    [untrusted] = plain.security.audit.search(action="auth.denied")
    [trusted] = proxied.security.audit.search(action="auth.denied")
    assert untrusted.client == "127.0.0.1"
    assert trusted.client == "198.51.100.7"  # the last hop the trusted proxy saw
