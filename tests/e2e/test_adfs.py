"""On-premises F&O signs in through AD FS: `paybridge init --auth adfs`, `paybridge check` all ✓
against the D365 sandbox's AD FS endpoint, one clear line for a wrong AD FS secret, and a payment
posted by `paybridge serve` whose every token came from AD FS (its requests in /metrics)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.product import BIN, D365_CLIENT, World, open_world, process_env, wait_for

pytestmark = pytest.mark.slow


def paybridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "paybridge"), *args], capture_output=True, text=True, timeout=120,
        env=process_env(env), stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("adfs")
    with open_world(tmp) as opened:
        config = tmp / "paybridge.yaml"
        # As the D365 sandbox's banner says: it answers as AD FS on its own URL.
        written = paybridge(
            "init", "--output", str(config), "--store-url", f"sqlite:///{tmp / 'pb.db'}",
            "--paytrace-url", opened.paytrace.url, "--dynamics-url", opened.dynamics.url,
            "--auth", "adfs", "--adfs-url", opened.dynamics.url,
            "--client-id", D365_CLIENT["client_id"], "--bank-account", "USMF OPER",
        )  # fmt: skip
        assert written.returncode == 0, written.stderr
        opened.config = config
        yield opened


def test_check_passes_with_adfs_and_says_adfs_issued_the_token(world: World) -> None:
    assert world.config is not None
    settings = yaml.safe_load(world.config.read_text(encoding="utf-8"))
    assert settings["dynamics"]["auth"] == "adfs"
    assert settings["dynamics"]["adfs_url"] == world.dynamics.url
    assert "tenant" not in settings["dynamics"] and "login_redirect" not in settings["dynamics"]
    table = paybridge("check", "--config", str(world.config))
    assert table.returncode == 0, table.stdout + table.stderr
    report = json.loads(paybridge("check", "--json", "--config", str(world.config)).stdout)
    assert report["ok"], [c for c in report["checks"] if c["status"] != "ok"]
    (token,) = [c for c in report["checks"] if (c["system"], c["name"]) == ("d365", "token")]
    assert token["detail"] == "issued by AD FS"


def test_a_wrong_adfs_secret_is_one_clear_line(world: World) -> None:
    assert world.config is not None
    result = paybridge(
        "check", "--config", str(world.config), env={"DYNAMICS_CLIENT_SECRET": "not-the-secret"}
    )
    assert result.returncode == 1, result.stdout + result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("✗")]
    assert len(failures) == 1, result.stderr
    assert "dynamics.client_secret" in failures[0] and "AD FS" in failures[0]
    assert "MSIS9622" in failures[0] and " — " in failures[0]
    assert "not-the-secret" not in result.stdout + result.stderr
    refused = paybridge(
        "worker", "--config", str(world.config), env={"DYNAMICS_CLIENT_SECRET": "not-the-secret"}
    )
    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "dynamics.client_secret" in errors[0], refused.stderr


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_serve_posts_a_payment_authenticated_by_adfs(world: World) -> None:
    assert world.config is not None
    settings: dict[str, Any] = yaml.safe_load(world.config.read_text(encoding="utf-8"))
    settings["paytrace"]["poll_interval_seconds"] = 0.5
    settings["dynamics"]["customer_match"] = "xref_or_same_id"
    settings["worker"] = {"idle_seconds": 0.05}
    settings["metrics"] = {"heartbeat_seconds": 1}
    settings["reconcile"]["schedule_at"] = None
    world.config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    viewer = world.api_key("viewer")
    serve = world.start_engine("serve")  # the access check runs first, over AD FS
    world.paytrace.create_customer("US-001")
    sale = world.paytrace.sale_by_customer("US-001", "42.10", "ADFS-1")
    (line,) = wait_for(
        f"D365 holds the payment line of sale {sale}", lambda: world.dynamics.payment_lines(sale),
        timeout=60, watch=[serve],
    )  # fmt: skip
    assert line["PaymentId"] == f"PT-{sale}-sale" and str(line["CreditAmount"]) in ("42.1", "42.10")
    api = httpx.Client(base_url=str(world.api_url), timeout=10)

    def requests_by_system() -> dict[str, dict[str, float]]:
        reply = api.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
        reply.raise_for_status()
        out: dict[str, dict[str, float]] = {}
        for (name, labels), value in _samples(reply.text).items():
            if name == "paybridge_http_requests_total":
                label = dict(labels)
                out.setdefault(label["system"], {})[label["status"]] = value
        return out

    seen = wait_for(
        "/metrics counts the token requests to AD FS and the D365 writes",
        requests_by_system, lambda got: "adfs" in got and "dynamics" in got,
        timeout=20, watch=[serve],
    )  # fmt: skip
    api.close()
    # Every token came from AD FS, none was refused; D365 took the token (no 401).
    assert set(seen["adfs"]) == {"200"} and seen["adfs"]["200"] >= 1, seen
    assert "401" not in seen["dynamics"] and seen["dynamics"].get("200", 0) >= 1, seen
