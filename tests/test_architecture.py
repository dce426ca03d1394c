"""The house's shape, from the code (docs/architecture.md, "Floors"): the import graph of every
package of ours, built with ast from the files as they are, has no circle between modules and no
import up the floors; and docs/architecture.md names only paths that exist.

Every import counts, wherever it stands: at the top, inside a function, under TYPE_CHECKING. An
import of a package's module (`from a import b`, `import a.b`) is an edge to that module, not to
the package's __init__.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each package of ours on its floor, lowest first: a package imports only packages on lower
# floors, never one on its own floor or above. A new top-level package gets a floor here.
FLOORS: list[set[str]] = [
    {"ocr_contract"},  # the contract: imports nothing of ours
    {
        "documents",
        "urlfetch",
    },  # bounded document rendering (the Lambda and the container); a client's URL fetched safely
    {"inference", "jobs"},  # the container; the jobs API's steps and adapters
    {"frontend", "training"},  # the Lambda (its jobs door uses jobs/); the Korean plate model's training
    {"infra", "local"},  # the CDK app's stacks and constructs; `make serve`
    {"app", "bench"},  # the CDK app's entry point; the benchmarks
]
# Inside inference/, the same rule between its sub-packages and top-level modules.
INFERENCE_FLOORS: list[set[str]] = [
    {"inference.text", "inference.images", "inference.draw"},  # the PP-OCR stages' own work; decoding; drawing
    {"inference.runtime"},  # sessions, model files, int8 (calibrated as text/ normalises), batching
    {"inference.plates", "inference.korean", "inference.layout", "inference.config"},  # the features
    {"inference.engine"},  # the read path
    {"inference.serving"},  # the SageMaker container's server
    {"inference.cli"},  # python -m inference: images, serve, --prepare-models
    {"inference.__main__"},
]

# Known breaches the tests below leave out; test_the_known_breaches_are_still_there fails once
# one is gone, to be deleted here. None now: infra.jobs <-> infra.ocr_api went in 86816bc, and
# jobs.steps -> frontend.http_fetch when URL fetching moved below both (urlfetch/).
KNOWN: set[str] = set()


def _our_packages() -> list[str]:
    """The top-level Python packages and modules of the repository, tests/ left out."""
    names = [p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file() and p.name != "tests"]
    names += [p.stem for p in ROOT.glob("*.py")]
    return sorted(names)


def _modules() -> dict[str, Path]:
    modules = {}
    for name in _our_packages():
        files = [ROOT / f"{name}.py"] if (ROOT / f"{name}.py").is_file() else sorted((ROOT / name).rglob("*.py"))
        for file in files:
            parts = list(file.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = file
    return modules


def _resolved(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours an import names: the longest prefix of `name` that is one."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        package = name.split(".") if file.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
            if isinstance(node, ast.Import):
                named = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                named = [f"{module}.{alias.name}" for alias in node.names]
                named = [n if n in modules else module for n in named]
            else:
                continue
            targets |= {t for t in (_resolved(n, modules) for n in named) if t is not None and t != name}
        graph[name] = targets
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _floor_of(module: str, floors: list[set[str]]) -> int | None:
    """The floor of the longest name in `floors` that is `module` or a package above it."""
    best: tuple[int, int] | None = None
    for level, names in enumerate(floors):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > best[1]):
                best = (level, len(name))
    return None if best is None else best[0]


def _breaches(graph: dict[str, set[str]]) -> set[str]:
    """Every circle and every import up (or across) the floors, as KNOWN spells them."""
    found = {"circle: " + " <-> ".join(circle) for circle in _circles(graph)}
    for source, targets in graph.items():
        for target in targets:
            for floors in (FLOORS, INFERENCE_FLOORS):
                a, b = _floor_of(source, floors), _floor_of(target, floors)
                same = floors is FLOORS and source.split(".")[0] == target.split(".")[0]
                inner = floors is INFERENCE_FLOORS and _inside_one(source, target, floors)
                if a is not None and b is not None and b >= a and not same and not inner:
                    found.add(f"up the floors: {source} -> {target}")
    return found


def _inside_one(source: str, target: str, floors: list[set[str]]) -> bool:
    """Both within the same named unit of `floors` (a sub-package's modules import each other)."""
    for names in floors:
        for name in names:
            if all(m == name or m.startswith(name + ".") for m in (source, target)):
                return True
    return False


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _graph()


def test_every_package_of_ours_is_on_a_floor():
    placed = set().union(*FLOORS)
    assert set(_our_packages()) == placed, (
        f"not on a floor: {sorted(set(_our_packages()) - placed)}; gone: {sorted(placed - set(_our_packages()))}"
    )
    inference = {
        f"inference.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "inference").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert inference == set().union(*INFERENCE_FLOORS), "inference/ has a module or sub-package on no floor"


def test_no_import_circle_between_modules(graph):
    circles = {breach for breach in _breaches(graph) if breach.startswith("circle")} - KNOWN
    assert not circles, "import circles:\n" + "\n".join(sorted(circles))


def test_no_import_up_the_floors(graph):
    upward = {breach for breach in _breaches(graph) if breach.startswith("up")} - KNOWN
    assert not upward, "imports up the floors (docs/architecture.md, Floors):\n" + "\n".join(sorted(upward))


def test_the_known_breaches_are_still_there(graph):
    gone = KNOWN - _breaches(graph)
    assert not gone, f"no longer found, so remove them from KNOWN in tests/test_architecture.py: {sorted(gone)}"


def test_the_graph_sees_a_circle_and_an_import_up_the_floors():
    # The check itself: a made-up graph with one of each.
    graph = {"inference.text.a": {"inference.text.b"}, "inference.text.b": {"inference.text.a", "inference.engine"}}
    assert _breaches(graph) == {
        "circle: inference.text.a <-> inference.text.b",
        "up the floors: inference.text.b -> inference.engine",
    }


def test_inference_has_at_most_8_modules_at_its_top_and_no_module_of_ours_is_over_450_lines():
    top = sorted(p.name for p in (ROOT / "inference").glob("*.py"))
    assert len(top) <= 8, top
    # Every deployable's code (training/ and bench/ are studies, tests/ the tests: not held to it).
    long = {
        name: n
        for name, path in _modules().items()
        if name.split(".")[0] not in ("training", "bench")
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert not long, long


# `path`, `path/`, `path.py`, `path::test`, and markdown links to other docs.
_CODE = re.compile(r"`([^`\s]+)`")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _named_paths(text: str) -> set[str]:
    names = set()
    for token in _CODE.findall(text):
        token = token.split("::")[0].rstrip("/").rstrip(",.;:")
        if "/" not in token and not re.fullmatch(r"[\w-]+\.(py|md|txt|json|png|onnx|npz|toml|cfg)", token):
            continue  # a name, a value, a command: not a path
        if token.startswith(("/", "../", "~", "http", "s3:", "application/", "image/")) or set("<{*") & set(token):
            continue  # outside the repository, a URL, a media type or a template
        names.add(token)
    names |= {"docs/" + link for link in _LINK.findall(text) if not link.startswith(("http", "../", "/"))}
    return names


def _exists(name: str) -> bool:
    if "/" in name:
        path = ROOT / name
        return path.exists() or path.with_suffix(".py").is_file() or (ROOT / (name + ".py")).is_file()
    if (ROOT / name).exists():
        return True
    return any(
        next((ROOT / top).rglob(name), None) for top in _our_packages() + ["docs", "tests"] if (ROOT / top).is_dir()
    )


def test_docs_architecture_names_only_paths_that_exist():
    names = _named_paths((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    assert len(names) > 40  # the parse found the paths
    missing = sorted(name for name in names if not _exists(name))
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_path_check_sees_a_missing_path():
    assert _named_paths("`inference/nothing.py`, `inference/text/`, `x = 1`, [a](api.md#b)") == {
        "inference/nothing.py",
        "inference/text",
        "docs/api.md",
    }
    assert not _exists("inference/nothing.py") and _exists("inference/text") and _exists("docs/api.md")
