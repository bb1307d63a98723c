"""The schema as a TypeScript integrator meets it: openapi-typescript's types of /api/schema/, and a small client
(tests/contract/client.ts) that must compile against them with `tsc --strict`.

The npm packages are pinned by tests/contract/package-lock.json and installed with `npm ci` into
.cache/contract-npm (once per lock: a copy of the lock there says what is installed). Without Node and npm on
the machine the test is skipped, saying so; with them, a failure to install is a failure.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "contract-npm"

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def npm_packages() -> Path:
    """node_modules with the pinned openapi-typescript and typescript, installed when the lock changed."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("Node.js and npm are not installed: the TypeScript contract check needs them (Node 20)")
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = (HERE / "package-lock.json").read_bytes()
    # One installer at a time: the test processes of `make test` may both get here first.
    with open(CACHE / ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        installed = CACHE / "package-lock.json"
        if not (installed.exists() and installed.read_bytes() == lock and (CACHE / "node_modules").is_dir()):
            shutil.copy(HERE / "package.json", CACHE / "package.json")
            installed.write_bytes(lock)
            result = subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                cwd=CACHE, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            if result.returncode != 0:
                installed.unlink()
                raise AssertionError(f"npm ci failed:\n{result.stdout}\n{result.stderr}")
    return CACHE / "node_modules"


def test_a_typescript_client_compiles_strictly_against_the_generated_types(client: Any, owner: Any, tmp_path: Path):
    modules = npm_packages()
    client.force_login(owner)
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    generate = subprocess.run(
        [str(modules / ".bin" / "openapi-typescript"), str(tmp_path / "schema.json"), "-o", str(tmp_path / "schema.d.ts")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert generate.returncode == 0, generate.stdout + generate.stderr
    assert "warn" not in generate.stderr.lower(), generate.stderr
    shutil.copy(HERE / "client.ts", tmp_path / "client.ts")
    check = subprocess.run(
        [
            str(modules / ".bin" / "tsc"),
            "--strict",
            "--noEmit",
            "--noUncheckedIndexedAccess",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
            str(tmp_path / "client.ts"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, f"tsc --strict refused the client:\n{check.stdout}{check.stderr}"
