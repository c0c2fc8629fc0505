"""Insight is optional: with it off, building the engine and the API imports none of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from paybridge.app.api import build_api
from paybridge.app.engine import build_engine
from paybridge.app.settings import Settings
from paybridge.cli import app as cli_app
logins = {
    "paytrace": {"username": "u", "password": "p", "integrator_id": "i"},
    "dynamics": {"tenant": "t", "client_id": "c", "client_secret": "s"},
}
settings = Settings.model_validate(
    {"store": {"url": sys.argv[1]}, **logins, **json.loads(sys.argv[2])}
)
engine = build_engine(settings)
api = build_api(engine)
# numpy is not in the list: the product itself loads it (pyarrow, for reconciliation).
heavy = ("paybridge.insight", "sklearn", "scipy", "onnxruntime", "tokenizers")
print(json.dumps({
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in heavy[1:] or m.startswith(heavy[0])),
    "routes": sorted(p for p in api.openapi()["paths"] if "insight" in p or "suggest" in p),
}))
"""


def _run(tmp_path: Path, sections: dict[str, object]) -> dict[str, list[str]]:
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, json.dumps(sections)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_with_insight_off_nothing_of_it_is_imported(tmp_path: Path) -> None:
    seen = _run(tmp_path, {})
    assert seen == {"loaded": [], "routes": []}


def test_with_insight_on_the_engine_imports_it_and_serves_its_routes(tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("sklearn", reason="needs the insight extra")
    seen = _run(tmp_path, {"insight": {"enabled": True}})
    assert "paybridge.insight.screen" in seen["loaded"]
    assert "/v1/insight/reviews" in seen["routes"] and "/v1/mapping/suggest" in seen["routes"]
