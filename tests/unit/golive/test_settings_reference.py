"""docs/settings.md is generated from the settings models and never drifts from them."""

from __future__ import annotations

from pathlib import Path

from paybridge.app.reference import settings_reference
from paybridge.app.settings import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_the_checked_in_reference_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == settings_reference(), (
        "docs/settings.md is stale: run `python -m paybridge.app.reference > docs/settings.md`"
    )


def test_every_section_and_setting_is_in_the_reference() -> None:
    text = settings_reference()
    for section, info in Settings.model_fields.items():
        assert f"## `{section}`" in text
        for name in type(info.default).model_fields:
            assert f"| `{section}.{name}` |" in text
    assert "| `dynamics.client_secret` | SecretStr | `env:DYNAMICS_CLIENT_SECRET` |" in text
    assert "**Secret**" in text.split("| `paytrace.integrator_id` |")[1].split("\n")[0]
    assert "## `reconcile.companies.<name>`" in text
