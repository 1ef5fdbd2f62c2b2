"""Knowledge cards per imaging modality, for medical VQA rows (``knowledge/modality/<key>.yaml``).

VQA benchmarks mix modalities in one file, so the knowledge a row carries is chosen by its ``extra_info.modality``
rather than by its dataset. The converters call ``modality_knowledge`` once per row.

Card fields (YAML)::

    name: ct                     # the card's key: equals the file name
    title: CT (computed tomography)
    aliases: [CT, CT(Computed Tomography), computed tomography]  # the spellings benchmarks use
    description: one paragraph on what a reader of this modality looks at
    references: [citations]

Unlike the MedMNIST task cards (``knowledge.py``), a modality card has no classes: VQA answers are per question, so
the text describes the modality (grey levels, planes, typical findings, artefacts), never an answer. A benchmark's
spelling matches an alias ignoring case, spaces and punctuation (OmniMedVQA's "MR (Mag-netic Resonance Imaging)"
is "MR (Magnetic Resonance Imaging)").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from . import validate
from .common import ConversionError
from .errors import excerpt

MODALITY_DIR = Path(__file__).parent / "knowledge" / "modality"
MAX_MODALITY_CHARS = 200  # no modality name is longer; longer values are garbage and match nothing
CARD_FIELDS = ("name", "title", "aliases", "description", "references")


@dataclass(frozen=True)
class ModalityCard:
    name: str
    title: str
    aliases: tuple[str, ...]
    description: str
    references: tuple[str, ...]
    path: Path

    @property
    def text(self) -> str:
        """The knowledge text rows carry (``extra_info.knowledge``): modality, then what its reader looks at."""
        return f"Modality: {self.title}.\n{self.description}"


def alias_key(spelling: object) -> str:
    """A spelling reduced to lower-case letters and digits: the form aliases are matched in.

    Args:
        spelling: a modality as a benchmark writes it; anything that is not text gives "".

    Returns:
        The matching key.

    >>> alias_key("MR (Mag-netic Resonance Imaging)") == alias_key("mr magnetic resonance imaging")
    True
    >>> alias_key(None)
    ''
    """
    if not isinstance(spelling, str):
        return ""
    return re.sub(r"[\W_]+", "", spelling.casefold())


def _text(value: object, path: Path, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConversionError(f"{path}: field '{field}': expected a non-empty string, got {excerpt(value)}")
    return " ".join(value.split())


def _texts(value: object, path: Path, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConversionError(f"{path}: field '{field}': expected a non-empty list of strings, got {excerpt(value)}")
    return tuple(_text(v, path, f"{field}[{i}]") for i, v in enumerate(value))


def load_modality_card(path: Path) -> ModalityCard:
    """One card file, checked: every field present and non-empty, ``name`` equal to the file name, nothing else.

    Args:
        path: the card's YAML file.

    Returns:
        The card.

    >>> load_modality_card(MODALITY_DIR / "ct.yaml").name
    'ct'
    """
    path = Path(path)
    data = validate.parse_document(
        validate.read_text(path, "modality card"),
        str(path),
        expect=dict,
        what=f"a mapping of card fields {list(CARD_FIELDS)}",
    )
    unknown = sorted(set(map(str, data)) - set(CARD_FIELDS))
    if unknown:
        raise ConversionError(f"{path}: field '{unknown[0]}': unknown; a modality card has {list(CARD_FIELDS)}")
    name = _text(data.get("name"), path, "name")
    if name != path.stem:
        raise ConversionError(f"{path}: field 'name': {excerpt(name)} differs from the file name {path.stem!r}")
    aliases = _texts(data.get("aliases"), path, "aliases")
    for i, alias in enumerate(aliases):
        if not alias_key(alias):
            raise ConversionError(f"{path}: field 'aliases[{i}]': {excerpt(alias)} has no letter or digit")
    return ModalityCard(
        name=name,
        title=_text(data.get("title"), path, "title"),
        aliases=aliases,
        description=_text(data.get("description"), path, "description"),
        references=_texts(data.get("references"), path, "references"),
        path=path,
    )


@functools.lru_cache(maxsize=8)
def modality_cards(directory: Path = MODALITY_DIR) -> dict[str, ModalityCard]:
    """Every card of ``directory`` by key, checked once per process (cached); an alias claimed by two cards (after
    ``alias_key``) is refused naming both files, since a row of that modality would get either card by chance.

    Args:
        directory: folder of ``<key>.yaml`` cards.

    Returns:
        Cards by key, sorted.

    >>> sorted(modality_cards())[:3]
    ['ct', 'dermoscopy', 'endoscopy']
    """
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:
        raise ConversionError(f"{directory}: no modality card (<key>.yaml)")
    cards = {p.stem: load_modality_card(p) for p in paths}
    _alias_index(cards)
    return cards


def _alias_index(cards: dict[str, ModalityCard]) -> dict[str, str]:
    """Alias key -> card key, over the cards' names and aliases."""
    index: dict[str, str] = {}
    for key, card in cards.items():
        for i, alias in enumerate((card.name, *card.aliases)):
            owner = index.setdefault(alias_key(alias), key)
            if owner != key:
                field = "name" if i == 0 else f"aliases[{i - 1}]"
                raise ConversionError(
                    f"{card.path}: field '{field}': {excerpt(alias)} also names the card {cards[owner].path}"
                )
    return index


@functools.lru_cache(maxsize=8)
def _lookup(directory: Path) -> dict[str, str]:
    return _alias_index(modality_cards(directory))


@functools.lru_cache(maxsize=1024)
def _match(key: str, directory: Path) -> tuple[str, str]:
    card = _lookup(directory).get(key)
    return ("", "") if card is None else (card, modality_cards(directory)[card].text)


def modality_knowledge(modality: object, directory: Path = MODALITY_DIR) -> tuple[str, str]:
    """The canonical modality key (e.g. "ct", "xray") and its card's knowledge text for a benchmark's modality
    spelling ("CT", "X-Ray", "Fundus Photography", ...); ("", "") when no card matches. Never raises on the
    modality (rows are data); a broken card file raises ``ConversionError`` naming the file and field.

    Args:
        modality: ``extra_info.modality`` as the benchmark released it.
        directory: folder of the cards (default: the shipped ones).

    Returns:
        ``(key, text)``.

    >>> modality_knowledge("MR (Mag-netic Resonance Imaging)")[0]
    'mri'
    >>> modality_knowledge("x-ray")[1].startswith("Modality: X-ray")
    True
    >>> modality_knowledge("unknown scanner")
    ('', '')
    """
    if isinstance(modality, str) and len(modality) > MAX_MODALITY_CHARS:
        return "", ""
    key = alias_key(modality)
    return _match(key, Path(directory)) if key else ("", "")
