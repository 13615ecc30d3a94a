"""The type stubs list exactly what the registries register (classes are generated from
the registries at import time, so a new registry entry must reach the stubs too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mithridate
from mithridate import _registry

PACKAGE = Path(mithridate.__file__).parent


def stub_classes(module: str, base: str) -> set:
    tree = ast.parse((PACKAGE / f"{module}.pyi").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == base for b in node.bases)
    }


@pytest.mark.parametrize(
    "module,base,role",
    [
        ("aggregate", "Rule", "aggregation-rule"),
        ("aggregate", "PreAggregator", "pre-aggregator"),
        ("attack", "Attack", "data-attack"),
    ],
)
def test_stub_classes_are_the_registry(module: str, base: str, role: str) -> None:
    expected = {_registry.class_name(e["name"]) for e in mithridate.available(role)}
    assert stub_classes(module, base) == expected


def test_every_module_has_a_stub() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_")}
    stubs = {p.stem for p in PACKAGE.glob("*.pyi")}
    assert modules <= stubs, modules - stubs


@pytest.mark.parametrize("module", ["text", "lm"])
def test_stub_functions_match_the_module(module: str) -> None:
    """Every public function of the experiment modules has a stub with the same parameters,
    in the same order and of the same kind (positional or keyword-only)."""
    import importlib
    import inspect

    mod = importlib.import_module(f"mithridate.{module}")
    tree = ast.parse((PACKAGE / f"{module}.pyi").read_text())
    stubs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    public = {n for n in mod.__all__ if inspect.isfunction(getattr(mod, n))}
    assert set(stubs) == public
    for name, node in stubs.items():
        params = inspect.signature(getattr(mod, name)).parameters.values()
        real = [(p.name, p.kind == p.KEYWORD_ONLY) for p in params]
        stub = [(a.arg, False) for a in node.args.args] + [(a.arg, True) for a in node.args.kwonlyargs]
        assert real == stub, name
