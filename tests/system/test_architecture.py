"""The package's layering, checked from the source: cli -> features -> core, no cycles.

Layers (an import may point to its own layer or a lower one, never up):
  3 cli       samcam.cli.*, samcam.__main__ (argparse, printing, exit codes)
  2 features  samcam.adapters.*, samcam.sam.*, samcam.vis.*, samcam.mmseg.*, samcam.demo.*, samcam.datasets.*
  1 core      everything else: refine, cams, masks, evaluate, io, batch, folders, errors, safe_pickle
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
FEATURES = ("samcam.adapters", "samcam.sam", "samcam.vis", "samcam.mmseg", "samcam.demo", "samcam.datasets")


def module_files() -> Dict[str, Path]:
    """Module name -> file, for samcam/ and the top-level adapters/ (installed as samcam.adapters)."""
    modules = {}
    for root, package in ((REPO / "samcam", "samcam"), (REPO / "adapters", "samcam.adapters")):
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package] + parts)] = path
    return modules


def layer(module: str) -> int:
    if module == "samcam.__main__" or module == "samcam.cli" or module.startswith("samcam.cli."):
        return 3
    if any(module == f or module.startswith(f + ".") for f in FEATURES):
        return 2
    return 1


def is_package(module: str, files: Dict[str, Path]) -> bool:
    return files[module].name == "__init__.py"


def imports_of(module: str, files: Dict[str, Path]) -> List[Tuple[str, int, bool]]:
    """(imported samcam module, line, inside a function) for every import statement."""
    tree = ast.parse(files[module].read_text(encoding="utf-8"))
    package = module if is_package(module, files) else module.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    candidate = f"{target}.{alias.name}"
                    found.append((candidate if candidate in files else target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return [(name, line, inside) for name, line, inside in found if name == "samcam" or name.startswith("samcam.")]


def graph() -> Dict[str, Set[str]]:
    files = module_files()
    return {module: {name for name, _, _ in imports_of(module, files) if name in files} for module in files}


def test_imports_point_down_the_layers():
    files = module_files()
    wrong = [
        f"{module} ({files[module].relative_to(REPO)}:{line}) imports {name}"
        for module in files
        for name, line, _ in imports_of(module, files)
        if name in files and layer(name) > layer(module)
    ]
    assert not wrong, "imports that point up a layer:\n" + "\n".join(wrong)


def test_no_import_cycles():
    edges = graph()
    state: Dict[str, int] = {}
    cycles = []

    def walk(module, path):
        state[module] = 1
        for name in sorted(edges[module]):
            if state.get(name) == 1:
                cycles.append(" -> ".join(path[path.index(name):] + [name]))
            elif name not in state:
                walk(name, path + [name])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            walk(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_function_level_imports_of_samcam_modules():
    """Imports inside functions are for optional heavy packages (torch, mmseg), not for dodging cycles."""
    files = module_files()
    inside = [f"{files[m].relative_to(REPO)}:{line} imports {name}"
              for m in files for name, line, in_function in imports_of(m, files) if in_function]
    assert not inside, "\n".join(inside)


def _calls_and_imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            yield "print()", node.lineno
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            yield "argparse", node.lineno
        if isinstance(node, ast.ImportFrom) and node.module == "argparse":
            yield "argparse", node.lineno


def test_argparse_and_print_only_in_the_cli():
    files = module_files()
    found = [f"{files[m].relative_to(REPO)}:{line}: {what}"
             for m in files if layer(m) < 3 for what, line in _calls_and_imports(files[m])]
    assert not found, "library code must return values and raise, not parse argv or print:\n" + "\n".join(found)


@pytest.mark.slow
def test_torch_is_imported_lazily():
    """A module-level `import torch` only where the module exists for torch (the mmseg head)."""
    files = module_files()
    allowed = {"samcam.mmseg.models"}
    found = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n == "torch" or n.startswith("torch.") for n in names) and module not in allowed:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, found


def test_layer_check_would_catch_an_upward_import(tmp_path):
    """The checker itself: an import from core into the CLI is found."""
    files = {"samcam.io": tmp_path / "io.py", "samcam.cli": tmp_path / "__init__.py"}
    files["samcam.io"].write_text("from .cli import main\n")
    files["samcam.cli"].write_text("")
    (name, _, _), = imports_of("samcam.io", files)
    assert name == "samcam.cli" and layer(name) > layer("samcam.io")
