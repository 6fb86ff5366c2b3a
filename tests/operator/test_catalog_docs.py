"""docs/operator.md's catalog table is generated from the shipped catalog
(hack/catalog_table.py) and must not go stale."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.fixtures.cluster import ROOT


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "catalog_table", ROOT / "hack" / "catalog_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_catalog_table_is_current() -> None:
    gen = generator()
    doc = gen.DOC.read_text()
    assert gen.BEGIN in doc
    assert gen.rendered(doc) == doc, "run: .venv/bin/python hack/catalog_table.py"


def test_every_shipped_name_is_in_the_docs() -> None:
    from pasture_operator import catalog

    doc = generator().DOC.read_text()
    missing = [n for n in catalog.parse(catalog.DEFAULT_FILE.read_text()) if f"`{n}`" not in doc]
    assert not missing
