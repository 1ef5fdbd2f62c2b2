"""No import cycles among our packages: a module that imports another, at module level or inside a function (a
deferred import is still a dependency), must not be imported back by it, directly or through others. A cycle makes
import order matter and hides a missing module boundary (the checks calling the trainer they check, a report
module and the table it writes sharing plotting helpers).

The graph is read from the source with ``ast`` (nothing is imported) and its cycles are the strongly connected
components of more than one module (``scipy.sparse.csgraph.connected_components``, strong connection)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from fixtures_data import REPO
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

PACKAGES = ("verl_med_plugin", "reward_fns", "data_preprocess")


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` file of ``packages`` under ``root``."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours that ``name`` (a module or a name inside one) belongs to."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules ``module`` imports anywhere in its source (``import``, ``from``, relative or absolute)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {owner for n in names if (owner := _owner(n, known))}
    # a module's own package (its __init__ runs first anyway) is not a dependency worth reporting
    return {m for m in found if m != module and not module.startswith(m + ".")}


def import_cycles(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[list[str]]:
    """Each group of modules that import one another in a circle, sorted."""
    known = modules(root, packages)
    names = sorted(known)
    index = {name: i for i, name in enumerate(names)}
    edges = [(index[m], index[t]) for m in names for t in imports_of(m, known[m], known)]
    rows, cols = zip(*edges, strict=True) if edges else ((), ())
    graph = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(names), len(names)))
    _, component = connected_components(graph, directed=True, connection="strong")
    groups: dict[int, list[str]] = {}
    for name, c in zip(names, component, strict=True):
        groups.setdefault(int(c), []).append(name)
    return sorted(g for g in groups.values() if len(g) > 1)


def test_our_packages_have_no_import_cycle():
    assert import_cycles(REPO) == []


def test_a_cycle_is_found_also_through_a_deferred_import(tmp_path):
    """The detector itself: a cycle closed by an import inside a function, through a relative import and a third
    module, is reported; a one-way chain is not. Mutation checked: reading only module-level statements
    (``tree.body`` instead of ``ast.walk``) misses this cycle and fails here."""
    pkg = tmp_path / "verl_med_plugin"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("import verl_med_plugin.c as c\n")
    (pkg / "c.py").write_text("def late():\n    from verl_med_plugin.a import thing\n")
    (pkg / "d.py").write_text("from verl_med_plugin import a\n")
    assert import_cycles(tmp_path, ("verl_med_plugin",)) == [
        ["verl_med_plugin.a", "verl_med_plugin.c", "verl_med_plugin.sub.b"]
    ]
