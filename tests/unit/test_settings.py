"""Settings: YAML + environment, secrets only by reference, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from paybridge.app.settings import load_settings
from paybridge.config import resolve_secret
from paybridge.errors import ConfigError


def test_yaml_and_environment_overlay(tmp_path: Path) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text(
        "paytrace:\n  base_url: https://api.paytrace.com\n  password: env:PT_PASS\n"
        "dynamics:\n  company: usrt\n",
        encoding="utf-8",
    )
    settings = load_settings(path, {"PAYBRIDGE__DYNAMICS__JOURNAL_NAME": "ARPay"})
    assert settings.dynamics.company == "usrt"
    assert settings.dynamics.journal_name == "ARPay"
    assert resolve_secret(settings.paytrace.password, "p", {"PT_PASS": "s3cret"}) == "s3cret"


def test_a_plain_secret_in_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text("paytrace:\n  password: hunter2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "paytrace.password" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("yaml_text", "setting"),
    [
        ("web:\n  event_secrets:\n    storefront: [whsec_c2VjcmV0]\n", "storefront[0]"),
        (
            "web:\n  event_secrets:\n    storefront: [env:NEW, whsec_c2VjcmV0]\n",
            "storefront[1]",
        ),
        ("web:\n  event_secrets:\n    orders: whsec_c2VjcmV0\n", "orders[0]"),
    ],
)
def test_a_plain_webhook_secret_in_a_file_is_refused(
    tmp_path: Path, yaml_text: str, setting: str
) -> None:
    """Issue 14 item 8: a webhook secret written in the settings file was accepted."""
    path = tmp_path / "paybridge.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert f"web.event_secrets.{setting} must be a reference" in str(caught.value)
    assert "c2VjcmV0" not in str(caught.value)


def test_webhook_secret_references_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text(
        "web:\n  event_secrets:\n    storefront: [vault:webhook.storefront, env:OLD]\n",
        encoding="utf-8",
    )
    refs = load_settings(path, {}).web.event_secrets["storefront"]
    assert [r.get_secret_value() for r in refs] == ["vault:webhook.storefront", "env:OLD"]


def test_a_missing_environment_variable_names_the_setting_not_the_value() -> None:
    with pytest.raises(ConfigError, match=r"dynamics.client_secret: environment variable X_SECRET"):
        resolve_secret(SecretStr("env:X_SECRET"), "dynamics.client_secret", {})


def test_bad_values_are_reported_with_their_path(tmp_path: Path) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text("worker:\n  batch_size: 0\npaytrace:\n  currency: dollars\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert "worker.batch_size" in message and "paytrace" in message


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text("dynamics:\n  compnay: usmf\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="compnay"):
        load_settings(path, {})


@pytest.mark.parametrize(
    ("channel", "setting"),
    [
        ("{type: slack, url: 'https://hooks.slack.com/services/T0/B0/xyzzy'}", "slack.url"),
        ("{type: teams, url: 'https://x.logic.azure.com/workflows/xyzzy'}", "slack.url"),
        ("{type: webhook, url: 'https://pager.test/in', secret: xyzzy}", "slack.secret"),
        (
            "{type: email, host: smtp.test, sender: a@x.test, to: [b@x.test], username: pb, password: xyzzy}",
            "slack.password",
        ),
    ],
)
def test_an_alert_channel_secret_in_a_file_is_refused(
    tmp_path: Path, channel: str, setting: str
) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text(f"alerting:\n  channels:\n    slack: {channel}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert f"alerting.channels.{setting} must be a reference" in str(caught.value)
    assert "xyzzy" not in str(caught.value)


def test_logging_and_alerting_sections_are_read(tmp_path: Path) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text(
        "logging: {level: warning, format: json}\n"
        "alerting:\n  channels:\n    ops: {type: slack, url: env:SLACK_URL}\n"
        "  rules: [{name: lag, when: lag, above: 120, channels: [ops]}]\n",
        encoding="utf-8",
    )
    settings = load_settings(path, {"PAYBRIDGE__METRICS__REQUIRE_KEY": "false"})
    assert (settings.logging.level, settings.logging.format) == ("WARNING", "json")
    assert settings.metrics.require_key is False
    (rule,) = settings.alerting.rules
    assert settings.alerting.channels_of(rule) == ["ops"]


def test_the_card_link_secret_is_a_reference_never_written_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text("cards:\n  link_secret: hunter2-written-in-the-file\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cards\.link_secret must be a reference"):
        load_settings(path, environ={})
    path.write_text("cards:\n  link_secret: env:CARD_LINK_SECRET\n", encoding="utf-8")
    assert load_settings(path, environ={}).cards.link_secret is not None


def test_more_d365_principals_build_one_pool_with_a_budget_each(tmp_path: Path) -> None:
    """Issue 19 item 2: several app registrations; their secrets are references too."""
    import httpx

    from paybridge.app.clients import dynamics_client
    from paybridge.clock import SystemClock

    path = tmp_path / "paybridge.yaml"
    path.write_text(
        "dynamics:\n  client_id: main\n  principals:\n"
        "    - {client_id: second, client_secret: plain-text}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "dynamics.principals[0].client_secret must be a reference" in str(caught.value)
    path.write_text(
        "dynamics:\n  client_id: main\n  service_protection: {requests: 600, share: 0.5}\n"
        "  principals:\n    - {client_id: second, client_secret: env:SECOND}\n"
        "    - {client_id: main, client_secret: env:THIRD}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "dynamics.principals[1].client_id: 'main' is already used" in str(caught.value)
    path.write_text(
        "dynamics:\n  client_id: main\n  service_protection: {requests: 600, share: 0.5}\n"
        "  principals:\n    - {client_id: second, client_secret: env:SECOND}\n",
        encoding="utf-8",
    )
    settings = load_settings(path, {})
    env = {"DYNAMICS_CLIENT_SECRET": "one", "SECOND": "two"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        client = dynamics_client(settings, httpx.AsyncClient(), SystemClock(), None)
    principals = client.principals.principals
    assert [p.client_id for p in principals] == ["main", "second"]
    assert all(p.budget is not None and p.budget.limits.requests == 300 for p in principals)


def _accounts_yaml(*entries: str, company: str = "usmf") -> str:
    listed = "".join(f"    - {{{e}}}\n" for e in entries)
    return f"dynamics:\n  company: {company}\npaytrace:\n  accounts:\n{listed}"


_B = "name: retail, company: usrt, username: env:B_USER, password: env:B_PASS, integrator_id: env:B_INT"


def test_more_paytrace_accounts_are_read_with_the_main_account_as_their_defaults(
    tmp_path: Path,
) -> None:
    """Issue 17 item 6: a merchant account per legal entity; unset fields are the main one's."""
    path = tmp_path / "paybridge.yaml"
    path.write_text(
        _accounts_yaml(_B, "name: eu, company: deu1, username: vault:eu.user, "
                       "password: vault:eu.pass, integrator_id: env:EU_INT, currency: EUR, "
                       "timezone: Europe/Berlin, base_url: https://eu.example")
        + "reconcile:\n  companies: {usmf: {}, usrt: {}, deu1: {}}\n",
        encoding="utf-8",
    )  # fmt: skip
    settings = load_settings(path, {})
    retail, eu = settings.paytrace.accounts
    assert (retail.name, retail.company, retail.currency, retail.base_url) == (
        "retail", "usrt", None, None,
    )  # fmt: skip
    assert (eu.currency, eu.timezone, eu.base_url) == ("EUR", "Europe/Berlin", "https://eu.example")
    assert load_settings(None, {}).paytrace.accounts == []  # nothing configured: one account


@pytest.mark.parametrize(
    ("entry", "setting"),
    [
        (_B.replace("env:B_PASS", "hunter2"), "paytrace.accounts[1].password"),
        (_B.replace("env:B_USER", "someone"), "paytrace.accounts[1].username"),
        (_B.replace("env:B_INT", "INT0001"), "paytrace.accounts[1].integrator_id"),
    ],
)
def test_a_plain_secret_of_another_account_is_refused_by_its_field(
    tmp_path: Path, entry: str, setting: str
) -> None:
    path = tmp_path / "paybridge.yaml"
    ok = _B.replace("retail", "other").replace("usrt", "ussi")
    path.write_text(_accounts_yaml(ok, entry), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert f"{setting} must be a reference" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("entries", "company", "problem"),
    [
        (
            (_B, _B.replace("usrt", "ussi")),
            "usmf",
            "paytrace.accounts[1].name: 'retail' is already",
        ),
        (
            (_B, _B.replace("retail", "other")),
            "usmf",
            "paytrace.accounts[1].company: 'usrt' already",
        ),
        ((_B,), "usrt", "paytrace.accounts[0].company: 'usrt' is dynamics.company"),
        (
            (_B + ", currency: dollars",),
            "usmf",
            "paytrace.accounts[0].currency must be an ISO 4217",
        ),
        ((_B.replace("retail", "Re/tail"),), "usmf", "paytrace.accounts[0].name: 'Re/tail'"),
        ((_B.replace("retail", "default"),), "usmf", "paytrace.accounts[0].name: 'default'"),
    ],
)
def test_accounts_are_validated_naming_the_field(
    tmp_path: Path, entries: tuple[str, ...], company: str, problem: str
) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text(_accounts_yaml(*entries, company=company), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert problem in str(caught.value)


def test_with_several_accounts_each_company_is_reconciled_against_an_account(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paybridge.yaml"
    path.write_text(_accounts_yaml(_B) + "reconcile:\n  companies: {usmf: {}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "paytrace.accounts[0].company: 'usrt' has no reconcile.companies.usrt" in str(
        caught.value
    )
    path.write_text(
        _accounts_yaml(_B) + "reconcile:\n  companies: {usmf: {}, usrt: {}, ussi: {}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "reconcile.companies.ussi: company 'ussi' has no PayTrace merchant account" in str(
        caught.value
    )
    path.write_text(
        _accounts_yaml(_B) + "reconcile:\n  companies: {usmf: {}, usrt: {}}\n", encoding="utf-8"
    )
    assert set(load_settings(path, {}).reconcile.companies) == {"usmf", "usrt"}
