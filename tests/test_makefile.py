"""The Makefile's dependency graph, read with `make -n` in a fresh clone's shape (no .venv, no
node_modules): each target installs what it runs, and no more."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

# The deploy path: the CDK libraries and boto3, never the test toolset (pytest, playwright,
# moto, onnxruntime...: requirements-dev.txt, ~1.4 GB) nor the server's.
DEPLOY_TARGETS = ["synth", "doctor", "deploy", "diff", "destroy", "destroy-assets"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The files make reads, as a fresh clone has them: no stamps, nothing installed."""
    tree = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if name in ("Makefile", "package.json") or (
            name.endswith(".txt") and ("requirements" in Path(name).name or "constraints" in Path(name).name)
        ):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tree / name)
    return tree


def planned(clone: Path, target: str) -> list[str]:
    """The commands `make <target>` would run there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    result = subprocess.run(
        [MAKE, "-n", target], check=False, cwd=clone, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    """The requirement files the commands pip-install."""
    files = []
    for command in commands:
        if "pip install" in command:
            words = command.split()
            files += [words[i + 1] for i, word in enumerate(words[:-1]) if word == "-r"]
    return files


def requirement_closure(files: list[str], clone: Path) -> set[str]:
    """Every requirement file the named ones pull in (`-r` lines)."""
    seen, todo = set(), list(files)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in (clone / name).read_text().splitlines():
            if line.startswith("-r "):
                todo.append(os.path.normpath(os.path.join(os.path.dirname(name), line[3:].strip())))
    return seen


@pytest.mark.parametrize("target", DEPLOY_TARGETS)
def test_deploy_targets_install_the_cdk_and_boto3_only(clone, target):
    files = requirement_closure(installs(planned(clone, target)), clone)
    assert files == {"requirements.txt"}, files


def test_make_test_still_installs_everything(clone):
    files = requirement_closure(installs(planned(clone, "test")), clone)
    assert {"requirements-dev.txt", "requirements.txt", "local/requirements.txt", "frontend/requirements.txt"} <= files


@pytest.mark.parametrize("target", ["destroy", "destroy-assets"])
def test_destroy_checks_credentials_before_calling_cdk_or_npm(clone, target):
    commands = planned(clone, target)
    preflight = next(i for i, c in enumerate(commands) if "infra.doctor --credentials-only" in c)
    assert f'--for "make {target}"' in commands[preflight]
    first_tool = next(i for i, c in enumerate(commands) if "npm install" in c or "node_modules/.bin/cdk" in c)
    assert preflight < first_tool


def _names(path: Path) -> set[str]:
    """The packages a requirements file names (versions live in constraints.txt)."""
    return {
        re.split(r"[<>=\[ ;]", line.strip())[0].lower()
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }


def test_what_requirements_txt_installs_is_all_the_deploy_tools_import():
    # Import the CDK app and the deploy tools as `make synth`/`doctor`/`destroy-assets` run them,
    # and name the installed distributions they load: each must be requirements.txt's, or one
    # of theirs.
    probe = """
import importlib.metadata as md, sys
import app, infra.doctor, infra.cleanup_assets
infra.doctor.aws_session().client("sts")
from botocore.exceptions import ClientError
by_module = md.packages_distributions()
used = set()
for name, module in list(sys.modules.items()):
    if "site-packages" in (getattr(module, "__file__", None) or ""):
        used.update(d.lower().replace("_", "-") for d in by_module.get(name.split(".")[0], []))
print("\\n".join(sorted(used)))
"""
    env = {**os.environ, "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(
        [sys.executable, "-c", probe], check=False, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    used = set(result.stdout.split())

    import importlib.metadata as md
    import re

    def closure(names):
        seen, todo = set(), list(names)
        while todo:
            name = todo.pop().lower().replace("_", "-")
            if name in seen:
                continue
            seen.add(name)
            try:
                requirements = md.requires(name) or []
            except md.PackageNotFoundError:  # a marker's (python_version < ...): not installed here
                continue
            for requirement in requirements:
                if "extra ==" not in requirement:
                    todo.append(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0))
        return seen

    # Loaded when present, not needed: botocore uses certifi's CA bundle if it is installed
    # (`try: from certifi import where`), its own otherwise.
    optional = {"certifi", "setuptools", "pip"}
    provided = closure(_names(ROOT / "requirements.txt")) | optional
    assert used and used <= provided, used - provided
