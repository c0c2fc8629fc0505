"""deploy/: the container image, the compose file, the systemd units and the production settings.

Each file is checked by the real tool where this machine has it (``docker compose config``,
``docker build``, ``systemd-analyze verify``) and structurally always, so a broken file fails
here even where the tool is missing. The image's payload, the wheel, is built every time.
"""

from __future__ import annotations

import configparser
import copy
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from paybridge.app.settings import Settings, load_settings
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
BIN = Path(sys.executable).parent
SETTINGS_IN_CONTAINER = "/etc/paybridge/paybridge.yaml"


def _docker_engine() -> str | None:
    """None when a Docker engine answers; else why not (the client alone cannot build or run)."""
    if shutil.which("docker") is None:
        return "no docker client is installed"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return None
    said = [ln.strip() for ln in (probe.stderr + probe.stdout).splitlines() if ln.strip()]
    why = next((ln for ln in said if "daemon" in ln.lower() or "error" in ln.lower()), "")
    return f"the docker client finds no engine ({why or f'docker info exited {probe.returncode}'})"


def _compose_plugin() -> str | None:
    """None when ``docker compose`` (the v2 plugin) runs; else why not."""
    if shutil.which("docker") is None:
        return "no docker client is installed"
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return None
    return "the docker client has no compose plugin (`docker compose version` fails)"


# -- compose ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_postgres_the_upgrade_once_then_serve_and_workers(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"db", "migrate", "serve", "worker"}
    db = services["db"]
    assert db["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade", "--config", SETTINGS_IN_CONTAINER]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("serve", "worker"):
        service = services[name]
        assert service["command"][:3] == [name, "--config", SETTINGS_IN_CONTAINER]
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert service["environment"]["PAYBRIDGE__STORE__AUTO_UPGRADE"] == "false"
        assert service["environment"]["PAYBRIDGE__STORE__URL"].startswith("postgresql+psycopg://")
        assert f"./paybridge.production.yaml:{SETTINGS_IN_CONTAINER}:ro" in service["volumes"]
        assert service["healthcheck"]["test"][0] == "CMD"
        assert service["stop_grace_period"] == "60s"  # the batch in hand finishes on SIGTERM
    assert "/health" in " ".join(services["serve"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"][1:4] == ["paybridge", "db", "status"]
    assert services["worker"]["deploy"]["replicas"] == "${PAYBRIDGE_WORKERS:-2}"
    assert services["serve"]["ports"] == ["127.0.0.1:${PAYBRIDGE_PORT:-8080}:8080"]
    assert set(compose["volumes"]) == {"pgdata", "paybridge-state"}


def test_compose_holds_no_secret_only_references_to_deploy_env(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or "SECRET" in key or "KEK" in key:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{name}.{key}: {value}"
        assert "password" not in str(service.get("command", "")).lower()
    env_example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    for line in env_example.splitlines():
        if re.match(r"^(POSTGRES_PASSWORD|PAYBRIDGE_VAULT_KEK|DYNAMICS_CLIENT_SECRET)=", line):
            assert line.endswith("="), f"env.example carries a value: {line}"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/deploy/.env" in ignored


# -- the compose file against the compose specification's JSON schema, without Docker --------------

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt},
# $VAR; $$ is a literal $ (the compose specification's interpolation).
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """What ``docker compose config`` does to the file before it validates it."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        unset = name not in env
        empty = unset or env[name] == ""
        if op in (":-", "-"):
            return arg if (empty if op == ":-" else unset) else env[name]
        if op in (":?", "?"):
            if empty if op == ":?" else unset:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return env[name]
        if op in (":+", "+"):
            return "" if (empty if op == ":+" else unset) else arg
        return env.get(name, "")

    return _VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    """The compose specification's schema, as check-jsonschema vendors it (kept current there)."""
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text("utf-8"))
    return schema


def compose_problems(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    )


def test_the_compose_file_is_valid_against_the_compose_spec_schema(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    """Docker-free: interpolated as compose does, then checked against the specification."""
    env = {"POSTGRES_PASSWORD": "compose-config-check"}
    assert compose_problems(compose, compose_schema) == []  # as written
    resolved = interpolate(compose, env)
    assert compose_problems(resolved, compose_schema) == []
    assert resolved["services"]["worker"]["deploy"]["replicas"] == "2"  # ${PAYBRIDGE_WORKERS:-2}
    assert resolved["services"]["serve"]["ports"] == ["127.0.0.1:8080:8080"]
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        interpolate(compose, {})  # as `docker compose config` refuses it without the password


@pytest.mark.parametrize(
    ("break_it", "where"),
    [
        (lambda c: c["services"]["serve"].update(restarts="always"), "services.serve"),
        (lambda c: c["services"]["migrate"]["depends_on"]["db"].update(condition="healthy"),
         "services.migrate.depends_on"),
        (lambda c: c["services"]["worker"].update(stop_grace_period=60), "services.worker.stop_grace_period"),
        (lambda c: c.update(volume={"x": {}}), "(top)"),
    ],
)  # fmt: skip
def test_the_schema_check_refuses_a_broken_compose_file(
    compose: dict[str, Any], compose_schema: dict[str, Any], break_it: Any, where: str
) -> None:
    broken = copy.deepcopy(compose)
    break_it(broken)
    problems = compose_problems(broken, compose_schema)
    assert problems and any(p.startswith(where) for p in problems), problems


def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    why = _compose_plugin()
    if why is not None:
        pytest.skip(
            f"docker compose cannot run here: {why}; the file was validated against the "
            "compose-spec schema instead (test_the_compose_file_is_valid_against_the_compose_spec_schema)"
        )
    env = {**os.environ, "POSTGRES_PASSWORD": "compose-config-check"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True, text=True, check=False,
        env={k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"},
    )  # fmt: skip
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


# -- the image ----------------------------------------------------------------------------------


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_dockerfile_is_multi_stage_installs_the_wheel_and_runs_as_a_user() -> None:
    steps = _instructions(DEPLOY / "Dockerfile")
    stages = [args for word, args in steps if word == "FROM"]
    assert (
        len(stages) == 2 and stages[0].endswith(" AS build") and stages[1].endswith(" AS runtime")
    )
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    build, runtime = steps[:last_from], steps[last_from:]
    assert any(w == "RUN" and "pip wheel" in a for w, a in build)
    assert [a for w, a in runtime if w == "COPY"] == []  # sources stay in the build stage
    install = next(a for w, a in runtime if w == "RUN" and "pip install" in a)
    assert "--no-index --find-links /wheels" in install and "from=build" in install
    users = [a for w, a in runtime if w == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("ENTRYPOINT", '["paybridge"]') in runtime
    for copied in ("pyproject.toml", "README.md", "LICENSE", "src"):
        assert (ROOT / copied).exists(), f"the Dockerfile copies {copied}"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("*") :][:5] == [
        "*", "!pyproject.toml", "!README.md", "!LICENSE", "!src/",
    ]  # fmt: skip


def test_the_wheel_the_image_installs_builds_with_its_entry_point_and_license(
    tmp_path: Path,
) -> None:
    # Exactly the build stage's context (Dockerfile.dockerignore), in a copy: no build/ litter.
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(ROOT / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), "."],
        cwd=context, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = wheels.glob("paybridge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "paybridge = paybridge.cli:main" in archive.read(entry_points).decode()
        license_file = next(n for n in names if n.endswith("licenses/LICENSE"))
        assert "Apache License" in archive.read(license_file).decode()
    assert "paybridge/store/migrations/versions/0001_initial.py" in names
    assert "paybridge/cli/db.py" in names
    assert any(n.startswith("paybridge/mapping/templates/") for n in names)


@pytest.mark.slow
def test_the_image_builds_and_runs_as_a_user(tmp_path: Path) -> None:
    why = _docker_engine()
    if why is not None:
        if IN_CI and os.environ.get("PAYBRIDGE_REQUIRE_DOCKER"):
            pytest.fail(f"PAYBRIDGE_REQUIRE_DOCKER is set but {why}")
        pytest.skip(
            f"the image cannot be built here: {why}; the Dockerfile was checked structurally "
            "and the wheel it installs was built (test_the_wheel_the_image_installs_...)"
        )
    tag = "paybridge:deploy-test"
    built = subprocess.run(
        ["docker", "build", "-f", str(DEPLOY / "Dockerfile"), "-t", tag, str(ROOT)],
        capture_output=True, text=True, check=False, timeout=1200,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    version = subprocess.run(
        ["docker", "run", "--rm", tag, "version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0 and version.stdout.strip()
    whoami = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert whoami.stdout.strip() not in {"", "0"}


# -- systemd ------------------------------------------------------------------------------------

UNIT_FILES = (
    "paybridge-db-upgrade.service",
    "paybridge-serve.service",
    "paybridge-worker@.service",
)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text(encoding="utf-8"))
    return parser


def test_the_units_run_paybridge_as_its_user_after_the_upgrade() -> None:
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(UNIT_FILES)
    upgrade = _unit("paybridge-db-upgrade.service")
    assert upgrade["Service"]["Type"] == "oneshot"
    assert upgrade["Service"]["ExecStart"].endswith(
        f"paybridge db upgrade --config {SETTINGS_IN_CONTAINER}"
    )
    for name, command in (
        ("paybridge-serve.service", "serve"),
        ("paybridge-worker@.service", "worker"),
    ):
        unit = _unit(name)
        service = unit["Service"]
        assert service["User"] == service["Group"] == "paybridge"
        assert service["ExecStart"] == (
            f"/opt/paybridge/bin/paybridge {command} --config {SETTINGS_IN_CONTAINER}"
        )
        assert service["EnvironmentFile"] == "/etc/paybridge/paybridge.env"
        assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "on-failure"
        assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
        assert "paybridge-db-upgrade.service" in unit["Unit"]["Requires"]
        assert "paybridge-db-upgrade.service" in unit["Unit"]["After"]
        assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "%i" in _unit("paybridge-worker@.service")["Unit"]["Description"]


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (the structural check above ran)")
    for name in UNIT_FILES:  # verify checks ExecStart exists: point it at this venv's paybridge
        text = (UNITS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(
            text.replace("/opt/paybridge/bin/paybridge", str(BIN / "paybridge")), encoding="utf-8"
        )
    shutil.copy(tmp_path / "paybridge-worker@.service", tmp_path / "paybridge-worker@1.service")
    units = [str(tmp_path / n) for n in UNIT_FILES if "@." not in n]
    result = subprocess.run(
        [analyze, "verify", "--man=no", *units, str(tmp_path / "paybridge-worker@1.service")],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    # verify exits 0 on an unknown key or a bad value, and says so: every line about our units
    # is a finding.
    findings = [ln for ln in result.stderr.splitlines() if "paybridge" in ln]
    assert result.returncode == 0 and findings == [], result.stderr


# -- the production settings ----------------------------------------------------------------------


def _secrets(model: BaseModel, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        where = f"{path}{name}"
        if isinstance(value, SecretStr):
            found.append((where, value.get_secret_value()))
        elif isinstance(value, BaseModel):
            found.extend(_secrets(value, where + "."))
        elif isinstance(value, dict):
            for key, item in value.items():
                items = item if isinstance(item, list) else [item]
                for n, one in enumerate(items):
                    if isinstance(one, SecretStr):
                        found.append((f"{where}.{key}[{n}]", one.get_secret_value()))
                    elif isinstance(one, BaseModel):
                        found.extend(_secrets(one, f"{where}.{key}."))
    return found


def test_the_production_settings_load_with_references_for_every_secret() -> None:
    settings = load_settings(DEPLOY / "paybridge.production.yaml", environ={})
    assert isinstance(settings, Settings)
    secrets = _secrets(settings)
    named = {where for where, _ in secrets}
    assert {
        "paytrace.password",
        "dynamics.client_secret",
        "web.event_secrets.storefront[0]",
    } <= named
    assert all(value.startswith(("env:", "vault:")) for _, value in secrets), secrets
    assert settings.store.auto_upgrade is False
    assert "@" in settings.store.url and ":" not in settings.store.url.split("//")[1].split("@")[0]
    assert settings.reconcile.journal_on_schedule is False
    assert settings.o2c.cut_over is not None
    assert not settings.paytrace.base_url.startswith("http://")
    assert settings.dynamics.verify_tls and settings.paytrace.verify_tls


def test_license_is_the_apache_license_pyproject_names() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
