"""Modality knowledge cards (``data_preprocess/knowledge/modality``): the spellings benchmarks release map to one
card, a row's modality never raises, and a broken card names its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from data_preprocess.common import ConversionError
from data_preprocess.modality_knowledge import (
    MODALITY_DIR,
    alias_key,
    modality_cards,
    modality_knowledge,
)

KEYS = ["ct", "dermoscopy", "endoscopy", "fundus", "microscopy", "mri", "oct", "ultrasound", "xray"]

# The modality strings as the benchmarks release them (OmniMedVQA's modality_type values verbatim, typos included).
RELEASED = [
    ("CT", "ct"),
    ("MRI", "mri"),
    ("X-Ray", "xray"),  # VQA-RAD / SLAKE
    ("CT(Computed Tomography)", "ct"),
    ("MR (Mag-netic Resonance Imaging)", "mri"),
    ("Ultrasound", "ultrasound"),
    ("Dermoscopy", "dermoscopy"),
    ("Fundus Photography", "fundus"),
    ("OCT (Optical Coherence Tomography", "oct"),
    ("Microscopy Images", "microscopy"),
    ("Endoscopy", "endoscopy"),
    ("pathology", "microscopy"),  # PathVQA: pathology slides
    ("  x ray ", "xray"),
    ("computed-tomography", "ct"),
    ("MR", "mri"),
    ("FUNDUS", "fundus"),
]


def test_every_modality_has_a_card_with_references():
    cards = modality_cards()
    assert sorted(cards) == KEYS
    for key, card in cards.items():
        assert card.path == MODALITY_DIR / f"{key}.yaml"
        assert len(card.description) > 400 and len(card.references) >= 2
        assert all(len(ref) > 30 for ref in card.references)  # full citations, not bare names


@pytest.mark.parametrize(("spelling", "key"), RELEASED)
def test_released_spellings_map_to_their_card(spelling, key):
    found, text = modality_knowledge(spelling)
    assert found == key
    card = modality_cards()[key]
    assert text == f"Modality: {card.title}.\n{card.description}"
    assert "\n- " not in text  # no per-class findings: a VQA answer is per question, never in the card


@pytest.mark.parametrize("modality", ["", None, 3, ["CT"], "PET", "unknown scanner", "c t x", "CT" * 200])
def test_unknown_or_odd_modality_gives_nothing(modality):
    assert modality_knowledge(modality) == ("", "")


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), st.none(), st.integers(), st.binary(max_size=20)))
def test_never_raises_on_a_rows_modality(value):
    key, text = modality_knowledge(value)
    assert (key == "") == (text == "") and (key == "" or key in KEYS)


def test_a_megabyte_of_garbage_is_refused_quickly():
    import time

    start = time.perf_counter()
    assert modality_knowledge("x-ray " * 200_000) == ("", "")
    assert time.perf_counter() - start < 0.1


def test_alias_key_ignores_case_space_and_punctuation():
    assert alias_key("OCT (Optical Coherence Tomography") == alias_key("oct optical-coherence tomography)")
    assert alias_key("X-Ray") == alias_key("xray") == "xray"
    assert alias_key(b"CT") == ""


def _write_cards(directory: Path, cards: dict[str, dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for stem, data in cards.items():
        (directory / f"{stem}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return directory


GOOD = {"name": "ct", "title": "CT", "aliases": ["CT"], "description": "Slices.", "references": ["A book. 2019."]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"description": ""}, r"ct\.yaml: field 'description': expected a non-empty string"),
        ({"aliases": "CT"}, r"ct\.yaml: field 'aliases': expected a non-empty list"),
        ({"aliases": ["CT", 5]}, r"ct\.yaml: field 'aliases\[1\]': expected a non-empty string"),
        ({"aliases": ["--"]}, r"ct\.yaml: field 'aliases\[0\]': '--' has no letter or digit"),
        ({"references": []}, r"ct\.yaml: field 'references': expected a non-empty list"),
        ({"name": "mri"}, r"ct\.yaml: field 'name': 'mri' differs from the file name 'ct'"),
        ({"positive": "x"}, r"ct\.yaml: field 'positive': unknown"),
        ({"title": None}, r"ct\.yaml: field 'title': expected a non-empty string"),
    ],
)
def test_broken_card_names_file_and_field(tmp_path, change, message):
    directory = _write_cards(tmp_path / "cards", {"ct": {**GOOD, **change}})
    with pytest.raises(ConversionError, match=message):
        modality_knowledge("CT", directory)


def test_alias_claimed_by_two_cards_is_refused(tmp_path):
    other = {**GOOD, "name": "mri", "aliases": ["MR", "c.t."]}
    directory = _write_cards(tmp_path / "cards", {"ct": GOOD, "mri": other})
    with pytest.raises(
        ConversionError,
        match=r"mri\.yaml: field 'aliases\[1\]': 'c\.t\.' also names the card "
        r".*ct\.yaml",
    ):
        modality_cards(directory)


def test_not_yaml_and_empty_folder(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ct.yaml").write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"ct\.yaml: not valid YAML"):
        modality_cards(tmp_path / "bad")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="no modality card"):
        modality_cards(tmp_path / "empty")


def test_cards_are_loaded_once(monkeypatch):
    from data_preprocess import modality_knowledge as module

    modality_knowledge("CT")
    monkeypatch.setattr(module, "load_modality_card", lambda path: pytest.fail("card re-read"))
    assert modality_knowledge("Computed Tomography")[0] == "ct"
