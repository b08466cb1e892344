"""The import rules of docs/architecture.md: each stage of ``src/genrec`` imports only itself and
earlier stages, and no modules import each other in a circle (function-local imports count:
hiding an import in a function does not remove the dependency). Imports under
``if TYPE_CHECKING:`` are for annotations only and are not followed (the families annotate
with the recipe that is composed from them)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "genrec"

#: The stages in pipeline order; a stage may import its own layer and the layers before it.
LAYERS: list[set[str]] = [
    {"errors", "atomic", "threads", "config", "training"},  # the ground floor
    {"data"},
    {"text"},
    {"sid"},
    {"prefs"},
    {"models"},
    {"decoding"},
    {"recommend"},
    {"families"},
    {"eval"},
    {"rl"},
    {"recipes"},
    {"serving"},
    {"cli"},
]
RANK = {stage: rank for rank, layer in enumerate(LAYERS) for stage in layer}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in SRC.rglob("*.py")}


def type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The genrec modules ``path`` imports at run time (anywhere in the file)."""
    tree = ast.parse(path.read_text())
    skipped = type_checking_lines(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("genrec"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genrec"):
            assert node.module is not None
            for alias in node.names:  # `from genrec.sid import rkmeans` names a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "genrec"


GRAPH = {name: imports(path, modules()) for name, path in modules().items()}


def test_every_stage_has_a_layer() -> None:
    stages = {stage(name) for name in GRAPH} - {"genrec"}
    assert stages <= set(RANK), f"add {sorted(stages - set(RANK))} to LAYERS"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if stage(m) != "genrec"))
def test_imports_point_to_earlier_stages(module: str) -> None:
    upward = sorted(
        target
        for target in GRAPH[module]
        if stage(target) != "genrec" and RANK[stage(target)] > RANK[stage(module)]
    )
    assert not upward, f"{module} (stage {stage(module)}) imports later stages: {upward}"


def test_no_import_circles() -> None:
    """Depth-first search for a back edge among the modules' explicit imports."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(GRAPH.get(node, ())):
            # A package's __init__ re-exports its modules: importing a module through its
            # package is not a dependency of the module on its siblings.
            if node.startswith(target + "."):
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import circle: " + " -> ".join(cycle))
