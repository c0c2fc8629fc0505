"""Going live, as a person with the README would: `paybridge init`, then `paybridge check` all ✓
against both sandboxes as processes; each wrong setting one clear line; the worker refuses to
start on one, and with --skip-check a wrong setting pauses, alerts and dead-letters nothing."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.product import (
    BIN,
    D365_CLIENT,
    D365_TENANT,
    HOST,
    World,
    free_port,
    open_world,
    process_env,
    start_process,
    stays,
    wait_for,
)


def paybridge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "paybridge"), *args], capture_output=True, text=True, timeout=120,
        env=process_env(env), stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def init_settings(world: World, path: Path) -> Path:
    """`paybridge init` with the sandboxes' values, as the sandboxes' banners print them."""
    result = paybridge(
        "init", "--output", str(path), "--store-url", f"sqlite:///{path.parent / 'pb.db'}",
        "--paytrace-url", world.paytrace.url, "--dynamics-url", world.dynamics.url,
        "--tenant", D365_TENANT, "--client-id", D365_CLIENT["client_id"],
        "--login-redirect", world.dynamics.url, "--bank-account", "USMF OPER",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("golive")
    with open_world(tmp) as opened:
        opened.config = init_settings(opened, tmp / "paybridge.yaml")
        yield opened


def test_from_init_to_all_checks_passed(world: World) -> None:
    assert world.config is not None
    text = world.config.read_text(encoding="utf-8")
    assert "env:DYNAMICS_CLIENT_SECRET" in text and D365_CLIENT["client_secret"] not in text
    table = paybridge("check", "--config", str(world.config))
    assert table.returncode == 0, table.stdout + table.stderr
    assert "✗" not in table.stdout and "all checks passed" in table.stderr
    report = json.loads(paybridge("check", "--config", str(world.config), "--json").stdout)
    assert report["ok"] is True
    assert all(check["status"] == "ok" for check in report["checks"]), report
    names = {(c["system"], c["name"]) for c in report["checks"]}
    for wanted in [("paytrace", "integrator id"), ("paytrace", "customer vault export"),
                   ("d365", "token"), ("d365", "company"), ("d365", "journal name"),
                   ("d365", "CustomerPaymentJournalLines (read, write)"),
                   ("d365", "mapping templates"), ("d365", "clock"), ("paytrace", "clock")]:  # fmt: skip
        assert wanted in names
    assert report["seconds"] < 5


def _variant(world: World, tmp: Path, name: str, change: dict[str, Any]) -> Path:
    assert world.config is not None
    data = yaml.safe_load(world.config.read_text(encoding="utf-8"))
    for dotted, value in change.items():
        section, key = dotted.split(".")
        data[section][key] = (
            value.format(d365=world.dynamics.url) if isinstance(value, str) else value
        )
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


WRONG = {
    "tenant": ({"dynamics.tenant": "contoso-typo"}, {}, "dynamics.tenant"),
    "client secret": ({}, {"DYNAMICS_CLIENT_SECRET": "not-the-secret"}, "dynamics.client_secret"),
    "journal name": ({"dynamics.journal_name": "GenJrn"}, {}, "dynamics.journal_name"),
    "base_url with /data": ({"dynamics.base_url": "{d365}/data"}, {}, "dynamics.base_url"),
    "integrator id": ({}, {"PAYTRACE_INTEGRATOR_ID": "WRONG0000001"}, "paytrace.integrator_id"),
    "company": ({"dynamics.company": "usxx"}, {}, "dynamics.company"),
    "vault secret without a key": (
        {"dynamics.client_secret": "vault:dynamics.client_secret"}, {"PAYBRIDGE_VAULT_KEK": ""},
        "dynamics.client_secret",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(WRONG))
def test_each_wrong_setting_is_one_clear_line_naming_it(
    world: World, tmp_path: Path, case: str
) -> None:
    change, env, setting = WRONG[case]
    config = _variant(world, tmp_path, case.replace(" ", "_").replace("/", ""), change)
    result = paybridge("check", "--config", str(config), env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("✗")]
    assert len(failures) == 1, result.stderr
    assert setting in failures[0] and " — " in failures[0]
    assert "not-the-secret" not in result.stdout + result.stderr


def test_the_worker_refuses_to_start_on_a_wrong_setting(world: World, tmp_path: Path) -> None:
    config = _variant(world, tmp_path, "journal", {"dynamics.journal_name": "GenJrn"})
    result = paybridge("worker", "--config", str(config))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "dynamics.journal_name" in errors[0], result.stderr
    assert "--skip-check" in result.stderr and "worker ready" not in result.stderr


@pytest.mark.parametrize(
    ("case", "log_line"),
    [("client secret", "topic payment paused"), ("integrator id", "job paytrace.poll paused")],
)
def test_with_skip_check_a_wrong_setting_pauses_and_dead_letters_nothing(
    world: World, tmp_path: Path, case: str, log_line: str
) -> None:
    change, env, _ = WRONG[case]
    config = _variant(world, tmp_path, "skip", change)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["store"]["url"] = f"sqlite:///{tmp_path / 'skip.db'}"
    data["paytrace"]["poll_interval_seconds"] = 0.5
    data["dynamics"]["customer_match"] = "xref_or_same_id"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    if case == "client secret":  # a payment the paused worker must hold, not lose
        world.paytrace.create_customer("US-001")
        world.paytrace.sale_by_customer("US-001", "12.34", "GL-1")
    argv = [str(BIN / "paybridge"), "worker", "--skip-check", "--config", str(config)]
    worker = start_process("worker", argv, tmp_path / "worker.log", process_env(env))
    try:
        wait_for(
            f"the worker says {log_line}", lambda: worker.log.read_text(encoding="utf-8"),
            lambda text: log_line in text, timeout=30, watch=[worker],
        )  # fmt: skip
        stays(
            "nothing is dead-lettered", lambda: paybridge("dlq", "list", "--config", str(config)).stdout,
            lambda text: "paytrace:" not in text, seconds=4, watch=[worker],
        )  # fmt: skip
    finally:
        worker.stop()
    text = worker.log.read_text(encoding="utf-8")
    assert text.count(log_line) == 1, text[-3000:]
    refusals = [line for line in text.splitlines() if " 981" in line]
    # Each job PayTrace refused says so once (its pause and its alert), never at every poll.
    assert all("paused" in line for line in refusals), refusals
    assert len(refusals) == len(set(refusals)), refusals
    assert "not-the-secret" not in text


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))  # fmt: skip
    return cert_path, key_path


def test_over_https_msal_reaches_the_sandbox_as_its_entra_authority(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    ports = {"paytrace": free_port(), "dynamics": free_port()}
    procs = [
        start_process(system, [str(BIN / "paybridge-sandbox"), system, "--port", str(port), *tls],
                      tmp_path / f"{system}.log", process_env())
        for system, port in ports.items()
    ]  # fmt: skip
    try:
        for proc, port in zip(procs, ports.values(), strict=True):
            wait_for(
                f"{proc.name} over https", lambda p=port: httpx.get(
                    f"https://{HOST}:{p}/_sandbox/faults", verify=ssl.create_default_context(cafile=str(cert))).status_code,
                lambda status: status < 500, timeout=30, watch=[proc],
            )  # fmt: skip
        banner = procs[1].log.read_text(encoding="utf-8")
        d365 = f"https://{HOST}:{ports['dynamics']}"
        assert (
            f"listening on {d365}" in banner and "dynamics.client_secret:  sandbox-secret" in banner
        )
        assert f"dynamics.authority_host: {d365}" in banner
        config = tmp_path / "tls.yaml"
        result = paybridge(
            "init", "--output", str(config), "--store-url", f"sqlite:///{tmp_path / 'tls.db'}",
            "--paytrace-url", f"https://{HOST}:{ports['paytrace']}", "--dynamics-url", d365,
            "--tenant", D365_TENANT, "--client-id", D365_CLIENT["client_id"],
            "--authority-host", d365, "--bank-account", "USMF OPER",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        checked = paybridge(
            "check", "--json", "--config", str(config), env={"SSL_CERT_FILE": str(cert)}
        )
        report = json.loads(checked.stdout)
        assert report["ok"], [c for c in report["checks"] if c["status"] != "ok"]
        untrusted = paybridge("check", "--config", str(config))
        assert untrusted.returncode == 1 and "d365 token" in untrusted.stderr
    finally:
        for proc in procs:
            proc.stop()
