"""The folders are the architecture: a torch-free core, no import cycles, small modules.

Every import counts, function-local ones included: the graph is read from the source with
``ast``, not from what happens to be imported at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "bitcluster": ROOT / "shared" / "bitcluster",
    "bitcluster_vendor": ROOT / "services" / "vendor" / "bitcluster_vendor",
    "bitcluster_consumer": ROOT / "services" / "consumer" / "bitcluster_consumer",
}
MAX_MODULE_LINES = 300
# What the core may import besides the standard library and itself.
CORE_THIRD_PARTY = {"numpy", "onnxruntime", "constriction"}
# Scoring against labels (scipy, scikit-learn) and resizing images (Pillow) may use these, inside
# the functions that need them: the consumer installs none of them and still imports every core module.
FUNCTION_LOCAL_ONLY = {"scipy", "sklearn", "PIL"}


def _modules() -> dict[str, Path]:
    found = {}
    for top, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path, module_level_only: bool = False) -> set[str]:
    """Absolute names of everything ``name`` imports, anywhere in the file (or at its top level)."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    tree = ast.parse(path.read_text())
    for node in (tree.body if module_level_only else ast.walk(tree)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return out


def _project_edges() -> dict[str, set[str]]:
    edges = {}
    for name, path in MODULES.items():
        targets = set()
        for imported in _imports(name, path):
            # "a.b.c" may name a function of module "a.b": walk up to the module it lives in
            parts = imported.split(".")
            while parts and ".".join(parts) not in MODULES:
                parts.pop()
            if parts and ".".join(parts) != name:
                targets.add(".".join(parts))
        edges[name] = targets
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return result


def test_the_import_graph_has_no_cycle():
    assert _cycles(_project_edges()) == []


def test_a_cycle_is_found_when_there_is_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_relative_and_local_imports_are_read(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text("from .codes import pack_codes\ndef f():\n    from ..serving import app\n")
    assert _imports("bitcluster.core.mod", path) == {"bitcluster.core.codes", "bitcluster.serving.app"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_the_size_limit(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{MODULES[name]} has {lines} lines (limit {MAX_MODULE_LINES}): split it"


def test_the_core_imports_only_itself_numpy_and_onnxruntime():
    core = {n: p for n, p in MODULES.items() if n == "bitcluster.core" or n.startswith("bitcluster.core.")}
    assert core, "bitcluster.core is missing"
    import sys

    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for name, path in core.items():
        top_level = {i.split(".")[0] for i in _imports(name, path, module_level_only=True)}
        for imported in _imports(name, path):
            top = imported.split(".")[0]
            if top == "bitcluster":
                assert imported.startswith("bitcluster.core"), f"{name} imports {imported}: the core stands alone"
            elif top in FUNCTION_LOCAL_ONLY:
                assert top not in top_level, f"{name} imports {top} at module level: import it where it is used"
            else:
                assert top in stdlib | CORE_THIRD_PARTY, f"{name} imports {imported}: not allowed in the torch-free core"


# --- the method contract -----------------------------------------------------------------------


def test_every_registered_method_satisfies_the_contract_and_declares_what_it_implements():
    import dataclasses
    import inspect

    from bitcluster.training.export.latent_networks import EXPORTABLE
    from bitcluster.training.methods import CAPABILITIES, METHODS, MethodModule

    for name, method in METHODS.items():
        module = method.module  # the registry's own check: raises MethodContractError
        assert isinstance(module, MethodModule), name
        assert dataclasses.is_dataclass(method.config_class), name
        for capability, function in CAPABILITIES.items():
            implemented = callable(getattr(module, function, None))
            assert getattr(method, capability) == implemented, f"{name}: {capability} declared " \
                f"{getattr(method, capability)}, but {module.__name__}.{function} exists: {implemented}"
        takes_teachers = "teachers" in inspect.signature(module.train).parameters
        assert method.uses_teacher == takes_teachers, f"{name}: uses_teacher does not match train's signature"
        assert method.exportable == (name in EXPORTABLE or module.__name__.endswith((".vab.with_teacher",
                                                                                     ".vab.paper"))), name


def test_a_method_missing_a_declared_capability_is_refused_when_looked_up():
    from bitcluster.training.methods import Method, MethodContractError

    overclaiming = Method("x", "pixel K-means claiming a rate sweep", "pixel_mixtures", "KMeansConfig",
                          rate_set_after_training=True)
    with pytest.raises(MethodContractError, match="evaluate_at_rate"):
        overclaiming.module
    not_a_method = Method("y", "a module that is no method", "scoring", "None")
    with pytest.raises(MethodContractError, match="does not satisfy the method contract"):
        not_a_method.module


def test_no_method_module_keeps_an_import_alive_with_noqa():
    for name, path in MODULES.items():
        if name.startswith("bitcluster.training."):
            assert "noqa: F401" not in path.read_text(), f"{name}: declare re-exports in __all__, not with noqa"
