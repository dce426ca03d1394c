"""The Lambda's code asset, staged without Docker: our two packages and the pinned wheels.

The folder is named by a hash of its inputs, so an unchanged frontend is not rebuilt (or
re-uploaded) and a changed one always is.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("frontend", "documents", "jobs", "ocr_contract", "urlfetch")
REQUIREMENTS = ROOT / "frontend" / "requirements-bundle.txt"
# Where its versions are pinned (it names packages only): a new pin makes a new bundle.
CONSTRAINTS = (ROOT / "constraints.txt", ROOT / "inference" / "constraints.txt")
LAMBDA_PYTHON = "3.14"
LAMBDA_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux2014_aarch64")


def _sources() -> list[Path]:
    files = [REQUIREMENTS, *CONSTRAINTS]
    for package in PACKAGES:
        files += sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def build_lambda_bundle(out_root: Path | None = None) -> Path:
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update(f"{LAMBDA_PYTHON}{LAMBDA_PLATFORMS}".encode())
    out_root = out_root or ROOT / "build" / "lambda"
    target = out_root / digest.hexdigest()[:16]
    if (target / ".complete").is_file():
        return target
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, staging / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
        "--target",
        str(staging),
        "--no-compile",
        "-r",
        str(REQUIREMENTS),
    ]
    for platform in LAMBDA_PLATFORMS:
        command += ["--platform", platform]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"could not stage the Lambda's wheels ({' '.join(command)}):\n{result.stderr[-2000:]}")
    (staging / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def bundled_function(scope, construct_id: str, handler: str, role, log_group, **options):
    """A Lambda function running our code bundle (build_lambda_bundle) on arm64: the frontend,
    its authorizer and the jobs' steps all run it, each under its own role and log group."""
    from aws_cdk import aws_lambda as lambda_

    return lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_14,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=lambda_.Code.from_asset(str(build_lambda_bundle())),
        role=role,
        log_group=log_group,
        **options,
    )
