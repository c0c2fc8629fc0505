"""`paybridge serve` as deployed: its own log (uvicorn's access lines included) masks cards and keys."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.product import open_world, wait_for

pytestmark = pytest.mark.slow
CARD = "4012000098765439"


def test_the_serve_log_never_shows_a_card_number_or_an_api_key(tmp_path: Path) -> None:
    with open_world(tmp_path) as world:
        world.write_settings()
        operator = world.api_key("operator")
        secret = operator.split("_", 2)[2]  # pb_<12 hex>_<secret, which may hold "_">
        engine = world.start_engine("serve")
        base = world.api_url
        assert base is not None
        with httpx.Client(base_url=base, timeout=10) as http:
            http.get(f"/health?card={CARD}&api_key={operator}")
            http.get(f"/v1/charges/{CARD}", headers={"Authorization": f"Bearer {operator}"})
            http.get(f"/v1/charges/x?key={operator}&n={CARD}")
            http.post(
                "/v1/charges",
                json={"company": "usmf", "invoice_number": CARD},
                headers={"Authorization": f"Bearer {operator}", "Idempotency-Key": "k-1"},
            )
        # The access lines are written when the answers go out: wait until the last one shows.
        wait_for(
            "the serve log has its access lines",
            lambda: engine.log.read_text(encoding="utf-8", errors="replace"),
            lambda text: text.count("/v1/charges") >= 3,
            timeout=10,
            watch=[engine],
        )
        engine.stop()
        log = engine.log.read_text(encoding="utf-8", errors="replace")
    assert '"GET /health?' in log  # uvicorn's access lines are there, and went through the mask
    assert CARD not in log
    assert secret not in log
    assert "xxxxxxxxxxxx5439" in log
