"""docs/architecture.md's module table is the package's tree, and the package's
imports form no cycle and run down the subpackages in the page's order."""

import ast
import os
import re

from conftest import REPO

PACKAGE = os.path.join(REPO, "scripts", "mosaicflow")


def modules_in_tree():
    found = set()
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py") and name != "__init__.py":
                found.add(os.path.relpath(os.path.join(folder, name), PACKAGE)[: -len(".py")])
    return found


def modules_in_page():
    with open(os.path.join(REPO, "docs", "architecture.md"), encoding="utf-8") as handle:
        return re.findall(r"^\| `([a-z_]+/[a-z_]+)` \|", handle.read(), re.M)


def imports(module):
    """The package modules (SUB/NAME, or SUB for a subpackage's __init__) that ``module`` imports."""
    path = os.path.join(PACKAGE, module + ".py")
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    here = module.split("/")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1] if node.level > 1 else here
                parts = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("mosaicflow"):
                parts = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:
                candidate = "/".join([*parts, alias.name])
                found.add(candidate if os.path.exists(os.path.join(PACKAGE, candidate + ".py")) else "/".join(parts))
    return {name for name in found if name and name != module}


def test_the_page_lists_every_module_once():
    listed = modules_in_page()
    assert len(listed) == len(set(listed))
    assert set(listed) == modules_in_tree()


def test_imports_form_no_cycle_and_run_down_the_subpackages():
    listed = modules_in_page()
    order = list(dict.fromkeys(name.split("/")[0] for name in listed))
    graph = {module: imports(module) for module in listed}
    for module, targets in graph.items():
        for target in targets:
            below = order.index(target.split("/")[0]) >= order.index(module.split("/")[0])
            assert below, f"{module} imports {target}, a subpackage listed before its own"
    # depth-first search for a cycle among the modules
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in graph.get(module, ()):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*path, module, target]))
            if target in graph and target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
