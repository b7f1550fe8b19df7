"""The import rules of docs/architecture.md, checked by parsing every module's imports.

Layers, bottom up: base (skeleton facts, errors, config/pickle/file helpers, checkpoints, geometry,
SMPL, rendering) → model and data (side by side, never importing each other) → engine (training
engine, inference, evaluation, config schema) → scripts (train*.py, infer_wild*.py, tools/, bench/),
which never import each other.
"""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASE = {"lib.skeleton", "lib.utils.errors", "lib.utils.tools", "lib.utils.utils_data", "lib.utils.utils_mesh",
        "lib.utils.utils_smpl", "lib.utils.checkpoint", "lib.utils.cli", "lib.utils.malloc", "lib.utils.outputs",
        "lib.utils.vismo"}


def layer(module):
    """Layer of a project module name ('lib.model.loss', 'train', 'tools.convert_h36m', ...)."""
    if module in BASE or module in ("lib", "lib.utils", "lib.model", "lib.data"):
        return "base"
    if module.startswith("lib.model."):
        return "model"
    if module.startswith("lib.data."):
        return "data"
    if module.startswith("lib."):
        return "engine"
    return "script"


ALLOWED = {"base": {"base"}, "model": {"base", "model"}, "data": {"base", "data"},
           "engine": {"base", "model", "data", "engine"}, "script": {"base", "model", "data", "engine"}}


def project_modules():
    """``{module name: path}`` of every Python file of the project (tests excluded)."""
    modules = {}
    for folder, subdirs, files in os.walk(REPO):
        top = folder == REPO
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and not (top and d in ("tests", "output", "data"))]
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), REPO)[:-3].replace(os.sep, ".")
                modules[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(folder, name)
    return modules


MODULES = project_modules()
SCRIPTS = {m for m in MODULES if layer(m) == "script"}


def imported_project_modules(path):
    """Project modules imported anywhere in the file (also inside functions)."""
    tree = ast.parse(open(path).read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in candidates:
            # the longest prefix that is a project module ('lib.utils.tools.get_config' -> 'lib.utils.tools')
            parts = name.split(".")
            for n in range(len(parts), 0, -1):
                prefix = ".".join(parts[:n])
                if prefix in MODULES:
                    names.add(prefix)
                    break
    return names


def test_every_library_module_has_a_layer():
    assert {"lib.skeleton", "lib.model.DSTformer", "lib.data.dataset_wild", "lib.utils.trainer"} <= set(MODULES)
    assert {"train", "infer_wild"} <= SCRIPTS


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module):
    own = layer(module)
    bad = []
    for imported in sorted(imported_project_modules(MODULES[module])):
        if imported == module:
            continue
        other = layer(imported)
        if other == "script":
            bad.append(f"{imported} (a script; move what both need into lib/)")
        elif other not in ALLOWED[own]:
            bad.append(f"{imported} ({other} layer)")
    assert not bad, f"{module} ({own} layer) imports " + ", ".join(bad)


def test_the_checker_sees_violations(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("import infer_wild\n\ndef f():\n    from lib.data.dataset_wild import read_input\n")
    assert imported_project_modules(str(path)) == {"infer_wild", "lib.data.dataset_wild"}
    assert layer("lib.data.dataset_wild") not in ALLOWED["model"]
