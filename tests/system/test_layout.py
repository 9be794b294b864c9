"""tests/ mirrors the package: every module with logic (a function or class of its own) has
its test module, tests/<path>/test_<module>.py for samcam/<path>/<module>.py, and the
adapters' (the samcam.adapters package) in tests/adapters/. A package's ``__init__.py`` is
tested by tests/<path>/test_<package>.py (samcam/__init__.py by tests/test_samcam.py).

tests/README.md describes the layout; this keeps new modules from being left without tests.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
# Modules whose tests are still in a file waiting to move, with that file.
WAITING: dict = {}  # module -> the test file that will cover it, while one is being written


def mirror_of(path: Path) -> Path:
    """The test module of a package module (a path relative to the repository)."""
    parts = list(path.with_suffix("").parts)
    if parts[0] == "samcam":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
        name = parts[-1] if parts else "samcam"
        return TESTS.joinpath(*parts, f"test_{name}.py")
    return TESTS.joinpath(*parts[:-1], f"test_{parts[-1].lstrip('_')}.py")


def has_logic(path: Path) -> bool:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for node in tree.body)


def test_every_module_with_logic_has_its_test_module():
    modules = sorted(p.relative_to(REPO) for folder in ("samcam", "adapters") for p in (REPO / folder).rglob("*.py"))
    assert len(modules) > 50
    missing = [f"{module} -> {mirror_of(module).relative_to(REPO)}" for module in modules
               if has_logic(module) and not mirror_of(module).exists()
               and not (REPO / WAITING.get(str(module), "-")).exists()]
    assert not missing, "modules without their test module:\n" + "\n".join(missing)


def test_the_mirror_path():
    assert mirror_of(Path("samcam/sam/pipeline.py")) == TESTS / "sam" / "test_pipeline.py"
    assert mirror_of(Path("samcam/_startup.py")) == TESTS / "test_startup.py"
    assert mirror_of(Path("samcam/masks/__init__.py")) == TESTS / "masks" / "test_masks.py"
    assert mirror_of(Path("samcam/__init__.py")) == TESTS / "test_samcam.py"
    assert mirror_of(Path("adapters/irn.py")) == TESTS / "adapters" / "test_irn.py"
    assert not has_logic(Path("samcam/io.py"))  # re-exports only
