"""Vault keyring: keys from the environment or a 0600 file, key ids, and refusals that name the source."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from paybridge.errors import ConfigError
from paybridge.security.keyring import (
    ENV_KEK,
    ENV_KEY_FILE,
    ENV_PREVIOUS,
    Keyring,
    kek_id,
    load_keyring,
    new_key_text,
    read_key_file,
    write_key_file,
)

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_environment_key_is_active_and_previous_keys_stay_readable() -> None:
    ring = load_keyring({ENV_KEK: b64(KEY_B), ENV_PREVIOUS: f"{b64(KEY_A)}, "})
    assert ring.active == KEY_B
    assert ring.ids == [kek_id(KEY_B), kek_id(KEY_A)]
    assert ring.key(kek_id(KEY_A)) == KEY_A


def test_key_id_identifies_without_revealing() -> None:
    assert kek_id(KEY_A) != kek_id(KEY_B)
    assert len(kek_id(KEY_A)) == 16
    assert KEY_A.hex() not in kek_id(KEY_A)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("not base64!", "not valid base64"), (b64(b"short"), "32 bytes, this one is 5")],
)
def test_a_bad_environment_key_names_the_variable_not_the_value(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_keyring({ENV_KEK: value})
    assert ENV_KEK in str(caught.value) and problem in str(caught.value)
    assert value not in str(caught.value)


def test_no_key_configured_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match=f"{ENV_KEK}.*{ENV_KEY_FILE}"):
        load_keyring({})


def test_key_file_with_0600_is_read_first_line_active(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    write_key_file(path, [KEY_B, KEY_A])
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ring = load_keyring({ENV_KEY_FILE: str(path)})
    assert ring.keys == (KEY_B, KEY_A)
    assert ring.path == path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused_naming_the_file(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "vault.key"
    path.write_text(b64(KEY_A) + "\n")
    os.chmod(path, mode)
    with pytest.raises(ConfigError) as caught:
        read_key_file(path)
    assert str(path) in str(caught.value) and "0600" in str(caught.value)
    assert b64(KEY_A) not in str(caught.value)


def test_missing_and_empty_key_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="vault key file"):
        read_key_file(tmp_path / "absent.key")
    empty = tmp_path / "empty.key"
    write_key_file(empty, [])
    with pytest.raises(ConfigError, match="holds no key"):
        read_key_file(empty)


def test_unknown_key_id_says_to_keep_the_old_key() -> None:
    with pytest.raises(ConfigError, match="keep the old key"):
        Keyring.of([KEY_A]).key("0123456789abcdef")


def test_new_keys_are_random_32_bytes() -> None:
    one, two = new_key_text(), new_key_text()
    assert one != two
    assert len(base64.b64decode(one)) == 32
