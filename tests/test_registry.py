"""The one registry type (samcam.registry) behind rules, methods and mask model families."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import samcam.registry as registry_module
from samcam.registry import Registry


class FakeEntryPoint:
    """An entry point whose load() is counted (and may fail)."""

    loads = 0

    def __init__(self, name, value, package="pkg-a", version="1.0", fail=False):
        self.name, self._value, self._fail = name, value, fail
        self.value = f"{package.replace('-', '_')}.mod:{name.upper()}"
        self.dist = SimpleNamespace(metadata={"Name": package}, version=version)

    def load(self):
        FakeEntryPoint.loads += 1
        if self._fail:
            raise ImportError("no module named nothere")
        return self._value


@pytest.fixture
def plugins(monkeypatch):
    found = []
    monkeypatch.setattr(registry_module, "_entry_points", lambda group: list(found) if group == "g" else [])
    FakeEntryPoint.loads = 0
    return found


def make(builtin_loads=None):
    def builtins(registry):
        if builtin_loads is not None:
            builtin_loads.append(1)
        registry.register("alpha", "A")
        registry.register("beta", "B")

    def convert(value, name):
        if not isinstance(value, str):
            raise TypeError(f"it is a {type(value).__name__}, not a str")
        return value

    return Registry("thing", group="g", builtins=builtins, convert=convert)


def test_builtins_are_registered_once_on_first_use():
    calls = []
    things = make(calls)
    assert calls == []
    assert things.get("alpha") == "A" and things.get("beta") == "B"
    assert things.names() == ["alpha", "beta"] and calls == [1]
    with pytest.raises(ValueError, match="already registered"):
        things.register("alpha", "again")


def test_asking_for_a_builtin_imports_no_plugin(plugins):
    plugins.append(FakeEntryPoint("gamma", "G"))
    things = make()
    assert things.get("alpha") == "A" and things.origin("alpha") == "built in"
    assert FakeEntryPoint.loads == 0
    assert things.get("gamma") == "G" and FakeEntryPoint.loads == 1
    assert things.origin("gamma") == "pkg-a 1.0 (pkg_a.mod:GAMMA)"
    assert things.plugin("gamma").source == "pkg-a (pkg_a.mod:GAMMA)"
    assert things.names() == ["alpha", "beta", "gamma"] and FakeEntryPoint.loads == 1  # loaded once


def test_problems_are_kept_out_and_said_when_asked(plugins):
    plugins += [FakeEntryPoint("broken", "x", fail=True), FakeEntryPoint("alpha", "A2"),
                FakeEntryPoint("twice", "T1"), FakeEntryPoint("twice", "T2", package="pkg-b"),
                FakeEntryPoint("notstr", 42), FakeEntryPoint("fine", "F")]
    things = make()
    assert things.names() == ["beta", "fine"]
    problems = things.problems()
    assert "failed to load: ImportError: no module named nothere" in problems["broken"]
    assert "uses the built-in name 'alpha', which cannot be replaced" in problems["alpha"]
    assert "several plug-ins declare 'twice'" in problems["twice"]
    assert "is not usable: it is a int, not a str" in problems["notstr"]
    for name in ("broken", "alpha", "twice", "notstr"):
        with pytest.raises(ValueError, match=f"thing '{name}': (plug-in|several)"):
            things.get(name)
    assert things.get("fine") == "F"


def test_a_plugin_must_declare_its_entry_point_name(plugins):
    plugins.append(FakeEntryPoint("gamma", "G"))
    things = Registry("thing", group="g", declared_name=lambda value: "other")
    with pytest.raises(ValueError, match="declares the name 'other', not its entry point name 'gamma'"):
        things.get("gamma")


def test_names_are_case_insensitive_and_typos_get_a_suggestion():
    things = make()
    assert things.get("ALPHA") == "A" and things.resolve("Beta") == "beta"
    with pytest.raises(ValueError, match=r"unknown thing 'alpah' \(did you mean alpha\?\); choose one of: alpha, beta"):
        things.get("alpah")
    with pytest.raises(ValueError, match=r"unknown thing 'zzz'; choose one of"):
        things.get("zzz")
    assert "alpha" in things and "zzz" not in things


def test_refresh_finds_plugins_installed_later(plugins):
    things = make()
    assert things.names() == ["alpha", "beta"]
    plugins.append(FakeEntryPoint("gamma", "G"))
    assert things.names() == ["alpha", "beta"]  # cached
    things.refresh()
    assert things.names() == ["alpha", "beta", "gamma"]


def test_the_three_registries_share_the_verbs():
    from samcam.adapters import METHODS
    from samcam.rules import RULES
    from samcam.sam.registry import MASK_FAMILIES
    for registry in (RULES, METHODS, MASK_FAMILIES):
        assert isinstance(registry, Registry)
        name = registry.names()[0]
        assert registry.get(name.upper()) is registry.get(name)
        assert registry.origin(name) == "built in"
    assert RULES.names()[:2] == ["samcam", "official"]
    assert "irn" in METHODS.names() and "sam" in MASK_FAMILIES.names()


def test_building_the_command_line_imports_no_plugin(plugins, monkeypatch):
    """Every command builds the whole parser: it must not import every plug-in."""
    from samcam.adapters import METHODS
    from samcam.cli import build_parser
    from samcam.rules import RULES
    monkeypatch.setattr(RULES, "group", "g")
    monkeypatch.setattr(METHODS, "group", "g")
    RULES.refresh()
    METHODS.refresh()
    plugins.append(FakeEntryPoint("gamma", "G", fail=True))
    try:
        build_parser()
        assert FakeEntryPoint.loads == 0
    finally:
        monkeypatch.undo()
        RULES.refresh()
        METHODS.refresh()
