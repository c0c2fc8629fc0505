"""Settings sections' common base and secret references (``env:NAME``, ``vault:NAME``), resolved at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, SecretStr

from paybridge.errors import ConfigError


class Section(BaseModel):
    """A settings section: unknown keys are refused, values frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def resolve_secret(
    value: SecretStr,
    name: str,
    environ: dict[str, str] | None = None,
    vault: Callable[[str], str] | None = None,
) -> str:
    """The secret behind a reference; a ConfigError names the setting, never the value.

    ``vault`` resolves ``vault:NAME`` (``paybridge.security.vault.Vault.get``); without it a
    vault reference is a ConfigError.
    """
    env = os.environ if environ is None else environ
    raw = value.get_secret_value()
    if raw.startswith("env:"):
        var = raw[4:]
        if var not in env:
            raise ConfigError(
                f"{name}: environment variable {var} is not set", operation="settings"
            )
        return env[var]
    if raw.startswith("vault:"):
        if vault is None:
            raise ConfigError(
                f"{name}: {raw} needs the credential vault, and none was opened",
                operation="settings",
            )
        try:
            return vault(raw[6:])
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc.message}", operation="settings") from None
    return raw
