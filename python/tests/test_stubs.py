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
