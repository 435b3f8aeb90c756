"""Frozen value objects describing an instrument: options, items and the instrument itself.

Everything here is read-only once built: mappings are `MappingProxyType`, sequences are
tuples, and raw rule data (scoring, alerts, conditions) is deep-frozen by `freeze`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

ItemType = Literal["choice", "scale", "yesno", "text"]
TranslationStatus = Literal["official", "draft"]

#: A show_if / flag / alert condition, as written in the definition file (deep-frozen).
Condition = Mapping[str, Any]

ITEM_TYPES: tuple[str, ...] = ("choice", "scale", "yesno", "text")


def freeze(value: Any) -> Any:
    """Return a deep read-only copy of JSON-like data (dicts -> mappingproxy, lists -> tuple)."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(inner) for key, inner in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(inner) for inner in value)
    return value


def thaw(value: Any) -> Any:
    """Return a plain, JSON-serialisable copy of data frozen by `freeze`."""
    if isinstance(value, Mapping):
        return {key: thaw(inner) for key, inner in value.items()}
    if isinstance(value, tuple):
        return [thaw(inner) for inner in value]
    return value


def _readonly(mapping: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if mapping is None or isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Option:
    """One answer option: a numeric code and its label in each language."""

    code: int
    labels: Mapping[str, str]
    image: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _readonly(self.labels))

    def __hash__(self) -> int:
        return hash((self.code, self.image))


@dataclass(frozen=True, slots=True)
class Item:
    """One question, identified by a stable, language-independent id."""

    id: str
    type: str
    texts: Mapping[str, str]
    options: tuple[Option, ...] = ()
    show_if: Condition | None = None
    section: str | None = None
    help: Mapping[str, str] | None = None
    optional_text: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", _readonly(self.texts))
        object.__setattr__(self, "help", _readonly(self.help))
        object.__setattr__(self, "options", tuple(self.options))
        if self.show_if is not None:
            object.__setattr__(self, "show_if", freeze(self.show_if))

    def __hash__(self) -> int:
        return hash((self.id, self.type))

    @property
    def is_text(self) -> bool:
        """True for free-text items, which are never scored."""
        return self.type == "text"

    def codes(self) -> frozenset[int]:
        """Return the set of valid answer codes (empty for text items)."""
        return frozenset(option.code for option in self.options)

    def option(self, code: int) -> Option:
        """Return the option with this code; KeyError if there is none."""
        for option in self.options:
            if option.code == code:
                return option
        raise KeyError(f"item {self.id!r} has no option with code {code!r}")

    def label(self, code: int, lang: str) -> str:
        """Return the label of an answer code in a language; KeyError if either is unknown."""
        return self.option(code).labels[lang]


@dataclass(frozen=True, slots=True)
class Instrument:
    """A questionnaire definition: texts per language, display orders and rule data."""

    id: str
    version: str
    title: Mapping[str, str]
    citation: str
    licence: str
    validated: bool
    recall: Mapping[str, str] | None
    instructions: Mapping[str, str]
    languages: tuple[str, ...]
    translation_status: Mapping[str, TranslationStatus]
    items: tuple[Item, ...]
    order: Mapping[str, tuple[str, ...]]
    scoring: Mapping[str, Any]
    alert_rules: tuple[Mapping[str, Any], ...] = ()
    source_path: str = ""
    notes: str = ""
    _index: Mapping[str, Item] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("title", "recall", "instructions", "translation_status"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))
        object.__setattr__(self, "languages", tuple(self.languages))
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "order", MappingProxyType({k: tuple(v) for k, v in self.order.items()}))
        object.__setattr__(self, "scoring", freeze(self.scoring))
        object.__setattr__(self, "alert_rules", freeze(tuple(self.alert_rules)))
        object.__setattr__(self, "_index", MappingProxyType({i.id: i for i in self.items}))

    def __hash__(self) -> int:
        return hash((self.id, self.version, self.source_path))

    @property
    def scoring_version(self) -> str:
        """Tag stored beside every computed score, e.g. 'rses-1.0-s1'."""
        return f"{self.id}-{self.version}-s{self.scoring.get('version', 1)}"

    def item(self, item_id: str) -> Item:
        """Return the item with this id; KeyError if unknown."""
        try:
            return self._index[item_id]
        except KeyError:
            raise KeyError(f"{self.id}: unknown item {item_id!r}") from None

    def has_item(self, item_id: str) -> bool:
        """True when the instrument defines an item with this id."""
        return item_id in self._index

    def section_questions(self, section: str) -> tuple[str, ...]:
        """Ids of a section's own questions (not the follow-ups their answers open), in file order."""
        return tuple(item.id for item in self.items if item.section == section and item.show_if is None)

    def items_in_order(self, lang: str) -> list[Item]:
        """Return all items in the display order of a language; KeyError if unsupported."""
        try:
            ids = self.order[lang]
        except KeyError:
            raise KeyError(f"{self.id}: language {lang!r} not available") from None
        return [self._index[item_id] for item_id in ids]

    def score_title(self, scale: str, lang: str) -> str:
        """A score's title in `lang` (the rule's `title`; else English; else its name, spaced)."""
        rule = next((r for r in self.scoring.get("scores", ()) if r["name"] == scale), {})
        return _in_language(rule.get("title"), lang) or scale.replace("_", " ")

    def band_label(self, scale: str, band: str, lang: str) -> str:
        """A score's band in `lang` (the range's `label`; else English; else its name, spaced)."""
        ranges = next((b["ranges"] for b in self.scoring.get("bands", ()) if b["score"] == scale), ())
        entry = next((r for r in ranges if r["name"] == band), {})
        return _in_language(entry.get("label"), lang) or band.replace("_", " ")

    def band_note(self, scale: str, lang: str) -> str | None:
        """How to read a score's bands, in `lang` (else English); None when the bands carry no note."""
        band = next((b for b in self.scoring.get("bands", ()) if b["score"] == scale), {})
        return _in_language(band.get("note"), lang) or None

    def change_note(self, scale: str, lang: str) -> str | None:
        """Where a score's meaningful change comes from, in `lang` (else English); None without a note."""
        return _in_language(self.scoring.get("change", {}).get(scale, {}).get("note"), lang) or None

    def score_names(self) -> tuple[str, ...]:
        """Return the names of the scores this instrument computes, in rule order."""
        return tuple(rule["name"] for rule in self.scoring.get("scores", ()))


def _in_language(texts: Any, lang: str) -> str:
    """A definition's text in `lang`: a {language: text} object falls back to English, then to any
    language; a plain string is English only (older definitions); "" when there is none."""
    if isinstance(texts, str):
        return texts
    if not texts:
        return ""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")
