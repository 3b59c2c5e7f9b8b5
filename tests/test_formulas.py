"""Each model's formulas are written once: the README's entries and the docstrings are made from them."""

from __future__ import annotations

from pathlib import Path

from recengine.models import MODELS
from recengine.models.formulas import readme_section

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_shows_the_formulas_of_every_model_as_the_models_state_them():
    section = readme_section(MODELS)
    assert section in README.read_text(encoding="utf-8"), "README is stale: paste readme_section(MODELS)"
    assert section.count("<details>") == len(MODELS) == 14


def test_each_docstring_carries_its_models_formulas():
    for cls in MODELS.values():
        assert cls.formulas.text() in cls.__doc__
        assert cls.formulas.objective.split()[0] in cls.formulas.text()
