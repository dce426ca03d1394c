"""The requirement files name packages; every version is pinned once, in constraints.txt or (the
container's) inference/constraints.txt, which each requirement file takes in with `-c`."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = [ROOT / "constraints.txt", ROOT / "inference" / "constraints.txt"]
# The project's own files (git's), not copies in build outputs or virtualenvs.
REQUIREMENTS = sorted(
    ROOT / name
    for name in subprocess.run(
        ["git", "ls-files", "*requirements*.txt"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
)
CONTAINER = [
    ROOT / "inference" / name
    for name in ("requirements.txt", "requirements-cpu.txt", "requirements-gpu.txt", "requirements-models.txt")
]
NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


def _lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in _lines(path):
        if line.startswith("-"):
            continue
        name, extras, spec = NAME.match(line).groups()
        assert not extras and spec.startswith("=="), f"{path.name}: {line!r} is not a plain name==version pin"
        pins[_canonical(name)] = spec
    return pins


def _files(path: Path, option: str) -> list[Path]:
    return [(path.parent / line.split(None, 1)[1]).resolve() for line in _lines(path) if line.split()[0] == option]


def _names(path: Path, seen: frozenset = frozenset()) -> tuple[set[str], set[Path]]:
    """The package names a requirement file asks for (its -r files' too), and its -c files."""
    names, constraints = set(), set(_files(path, "-c"))
    for line in _lines(path):
        if not line.startswith("-"):
            names.add(_canonical(NAME.match(line).group(1)))
    for nested in _files(path, "-r"):
        assert nested.is_file(), f"{path}: -r {nested} does not exist"
        if nested not in seen:
            more, more_constraints = _names(nested, seen | {path})
            names |= more
            constraints |= more_constraints
    return names, constraints


def _constraint_pins(files: set[Path]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for path in files:
        assert path.is_file(), f"-c {path} does not exist"
        pins |= _pins(path)
        pins |= _constraint_pins(set(_files(path, "-c")))
    return pins


def test_each_version_is_pinned_once():
    seen: dict[str, Path] = {}
    for path in CONSTRAINTS:
        for name in _pins(path):
            assert name not in seen, f"{name} is pinned in both {seen[name].name} and {path}"
            seen[name] = path


def test_requirement_files_name_packages_and_their_constraints_pin_each():
    assert len(REQUIREMENTS) >= 9
    for path in REQUIREMENTS:
        for line in _lines(path):
            if not line.startswith("-"):
                assert not NAME.match(line).group(3), f"{path}: {line!r}: versions belong in constraints.txt"
        names, constraints = _names(path)
        pins = _constraint_pins(constraints)
        assert names and not names - set(pins), f"{path}: unpinned: {sorted(names - set(pins))}"


def test_the_container_is_pinned_by_what_its_build_context_holds():
    # The image is built from inference/ and ocr_contract/ only (.dockerignore).
    for path in CONTAINER:
        names, constraints = _names(path)
        assert constraints == {ROOT / "inference" / "constraints.txt"}, path
    dockerfile = (ROOT / "inference" / "Dockerfile").read_text()
    copied = re.search(r"^COPY ((?:.*\\\n)*.*) inference/$", dockerfile, re.M).group(1).replace("\\\n", " ").split()
    assert {str(p.relative_to(ROOT)) for p in CONTAINER} | {"inference/constraints.txt"} <= set(copied)


def test_every_pin_is_asked_for_somewhere():
    asked = set()
    for path in REQUIREMENTS:
        asked |= _names(path)[0]
    for path in CONSTRAINTS:
        assert not set(_pins(path)) - asked, f"{path.name} pins what no requirement file asks for"
