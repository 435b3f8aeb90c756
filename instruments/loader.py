"""Read instrument definition files, check every rule, and build frozen `Instrument`s.

A clinic adds a licensed instrument by dropping a file of the same format in a private
folder and passing that folder to `load_library(extra_dirs=...)`: no code change.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from instruments.alerts import check_alert_rules
from instruments.conditions import check_condition, referenced_items
from instruments.library import Library, version_key
from instruments.model import ITEM_TYPES, Instrument, Item, Option
from instruments.scoring_rules import check_scoring

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"
IMAGES_DIRNAME = "images"

ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*\.svg\Z")

REQUIRED_KEYS = frozenset(
    {
        "id",
        "version",
        "title",
        "citation",
        "licence",
        "validated",
        "instructions",
        "languages",
        "translation_status",
        "order",
        "items",
        "scoring",
    }
)
OPTIONAL_KEYS = frozenset({"recall", "option_sets", "alerts", "notes"})
ITEM_KEYS = frozenset(
    {"id", "type", "text", "options", "scale", "show_if", "section", "help", "optional_text"}
)
OPTION_KEYS = frozenset({"code", "labels", "image"})
SCALE_KEYS = frozenset({"min", "max", "min_label", "max_label"})
TRANSLATION_STATUSES = ("official", "draft")


class InstrumentError(ValueError):
    """A definition file is unreadable or breaks a rule; the message names file, item, problem."""


def _fail(where: str, problem: str) -> InstrumentError:
    return InstrumentError(f"{where}: {problem}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle, object_pairs_hook=_no_duplicate_keys)
    except OSError as exc:
        raise _fail(path.name, f"cannot read file ({exc.strerror or exc})") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise _fail(path.name, f"invalid JSON ({exc})") from None


def _keys(data: Any, where: str, required: Iterable[str], optional: Iterable[str]) -> None:
    if not isinstance(data, Mapping):
        raise _fail(where, f"expected an object, got {type(data).__name__}")
    required, allowed = set(required), set(required) | set(optional)
    missing = sorted(required - set(data))
    if missing:
        raise _fail(where, f"missing required key(s) {', '.join(missing)}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}")


def _string(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{what} must be a non-empty string")
    return value


def _texts(value: Any, languages: tuple[str, ...], where: str, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"{what} must be an object of texts per language")
    for lang in languages:
        if lang not in value:
            raise _fail(where, f"{what} has no '{lang}' text")
        _string(value[lang], where, f"{what} '{lang}' text")
    unknown = sorted(set(value) - set(languages))
    if unknown:
        raise _fail(where, f"{what} has text(s) for undeclared language(s) {', '.join(unknown)}")
    return dict(value)


def _code(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(where, f"option code {value!r} is not an integer")
    return value


def _options(raw: Any, languages: tuple[str, ...], where: str, images_dir: Path) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "options must be a non-empty list")
    options: list[Option] = []
    seen: set[int] = set()
    for index, data in enumerate(raw):
        _keys(data, f"{where}: option {index + 1}", ("code", "labels"), ("image",))
        code = _code(data["code"], where)
        if code in seen:
            raise _fail(where, f"option code {code} duplicated")
        seen.add(code)
        labels = _texts(data["labels"], languages, where, f"option {code} labels")
        image = data.get("image")
        if image is not None:
            if not isinstance(image, str) or not IMAGE_PATTERN.match(image):
                raise _fail(where, f"option {code} image {image!r} is not a plain .svg file name")
            if not (images_dir / image).is_file():
                raise _fail(where, f"option {code} image {image!r} not found in {images_dir}")
        options.append(Option(code=code, labels=labels, image=image))
    return tuple(options)


def _scale_options(raw: Any, languages: tuple[str, ...], where: str) -> tuple[Option, ...]:
    _keys(raw, f"{where}: scale", SCALE_KEYS, ())
    low, high = _code(raw["min"], where), _code(raw["max"], where)
    if high <= low:
        raise _fail(where, f"scale max {high} must be greater than min {low}")
    ends = {
        low: _texts(raw["min_label"], languages, where, "scale min_label"),
        high: _texts(raw["max_label"], languages, where, "scale max_label"),
    }
    options = []
    for code in range(low, high + 1):
        if code in ends:
            labels = {lang: f"{code} – {text}" for lang, text in ends[code].items()}
        else:
            labels = {lang: str(code) for lang in languages}
        options.append(Option(code=code, labels=labels))
    return tuple(options)


def _item(
    data: Any,
    languages: tuple[str, ...],
    option_sets: Mapping[str, Any],
    file_name: str,
    images_dir: Path,
) -> Item:
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise _fail(file_name, f"every item needs a string 'id', got {data!r:.80}")
    item_id = data["id"]
    where = f"{file_name}: item {item_id!r}"
    if not ID_PATTERN.match(item_id):
        raise _fail(where, "id must match [a-z][a-z0-9_]*")
    _keys(data, where, ("id", "type", "text"), ITEM_KEYS - {"id", "type", "text"})
    kind = data["type"]
    if kind not in ITEM_TYPES:
        raise _fail(where, f"unknown type {kind!r}; known: {', '.join(ITEM_TYPES)}")
    raw_options = data.get("options")
    if isinstance(raw_options, str):
        if raw_options not in option_sets:
            raise _fail(where, f"unknown option set {raw_options!r}")
        raw_options = option_sets[raw_options]
    if kind == "text":
        if raw_options is not None or "scale" in data:
            raise _fail(where, "a text item takes no options")
        options: tuple[Option, ...] = ()
    elif kind == "scale":
        if raw_options is not None or "scale" not in data:
            raise _fail(where, "a scale item needs 'scale' (min, max, labels) and no options")
        options = _scale_options(data["scale"], languages, where)
    else:
        if "scale" in data:
            raise _fail(where, f"a {kind} item takes options, not 'scale'")
        options = _options(raw_options, languages, where, images_dir)
        if kind == "yesno" and {o.code for o in options} != {0, 1}:
            raise _fail(where, "a yesno item must have exactly the codes 0 (no) and 1 (yes)")
    section = data.get("section")
    if section is not None and (not isinstance(section, str) or not ID_PATTERN.match(section)):
        raise _fail(where, "section must match [a-z][a-z0-9_]*")
    optional_text = data.get("optional_text", kind == "text")
    if not isinstance(optional_text, bool) or (optional_text and kind != "text"):
        raise _fail(where, "optional_text is a boolean allowed only on text items")
    help_texts = data.get("help")
    return Item(
        id=item_id,
        type=kind,
        texts=_texts(data["text"], languages, where, "text"),
        options=options,
        show_if=data.get("show_if"),
        section=section,
        help=None if help_texts is None else _texts(help_texts, languages, where, "help"),
        optional_text=optional_text,
    )


def _check_show_if(items: Mapping[str, Item], file_name: str) -> None:
    for item in items.values():
        if item.show_if is None:
            continue
        where = f"{file_name}: item {item.id!r}"
        try:
            check_condition(item.show_if, items=items, kinds=("item",))
        except ValueError as exc:
            raise _fail(where, f"show_if: {exc}") from None
        if item.id in referenced_items(item.show_if):
            raise _fail(where, "show_if refers to the item itself")
    # show_if must not loop (a -> b -> a): walk each chain of controllers.
    for start in items.values():
        seen, frontier = {start.id}, set(_controllers(start))
        while frontier:
            current = frontier.pop()
            if current == start.id:
                raise _fail(f"{file_name}: item {start.id!r}", "show_if forms a cycle")
            if current not in seen:
                seen.add(current)
                frontier |= _controllers(items[current])


def _controllers(item: Item) -> set[str]:
    return referenced_items(item.show_if) if item.show_if is not None else set()


def _languages(data: Mapping[str, Any], where: str) -> tuple[str, ...]:
    languages = data["languages"]
    if (
        not isinstance(languages, list)
        or not languages
        or not all(isinstance(lang, str) and re.fullmatch(r"[a-z]{2,3}", lang) for lang in languages)
        or len(set(languages)) != len(languages)
    ):
        raise _fail(where, "languages must be a non-empty list of distinct codes like 'en'")
    return tuple(languages)


def _order(
    data: Mapping[str, Any], ids: list[str], languages: tuple[str, ...], where: str
) -> dict[str, tuple[str, ...]]:
    order = data["order"]
    if not isinstance(order, Mapping):
        raise _fail(where, "order must be an object of item-id lists per language")
    unknown = sorted(set(order) - set(languages))
    if unknown:
        raise _fail(where, f"order given for undeclared language(s) {', '.join(unknown)}")
    result: dict[str, tuple[str, ...]] = {}
    for lang in languages:
        listed = order.get(lang)
        if not isinstance(listed, list):
            raise _fail(where, f"order has no '{lang}' list")
        if len(listed) != len(set(listed)) or sorted(listed) != sorted(ids):
            missing = sorted(set(ids) - set(listed))
            extra = sorted(set(listed) - set(ids))
            dupes = sorted({i for i in listed if listed.count(i) > 1})
            raise _fail(
                where,
                f"order '{lang}' is not a permutation of the items "
                f"(missing {missing}, unknown {extra}, repeated {dupes})",
            )
        result[lang] = tuple(listed)
    return result


def load_instrument(path: str | PathLike[str]) -> Instrument:
    """Load and fully validate one definition file; raise InstrumentError on any problem."""
    path = Path(path)
    where = path.name
    data = _read_json(path)
    _keys(data, where, REQUIRED_KEYS, OPTIONAL_KEYS)
    instrument_id = _string(data["id"], where, "id")
    if not ID_PATTERN.match(instrument_id):
        raise _fail(where, f"instrument id {instrument_id!r} must match [a-z][a-z0-9_]*")
    version = _string(data["version"], where, "version")
    try:
        version_key(version)
    except ValueError as exc:
        raise _fail(where, str(exc)) from None
    if not isinstance(data["validated"], bool):
        raise _fail(where, "validated must be true or false")
    languages = _languages(data, where)
    status = data["translation_status"]
    if not isinstance(status, Mapping) or set(status) != set(languages):
        raise _fail(where, "translation_status must give a status for each declared language")
    if any(value not in TRANSLATION_STATUSES for value in status.values()):
        raise _fail(where, f"translation_status values must be one of {TRANSLATION_STATUSES}")
    title = _texts(data["title"], languages, where, "title")
    instructions = _texts(data["instructions"], languages, where, "instructions")
    recall = data.get("recall")
    if recall is not None:
        recall = _texts(recall, languages, where, "recall")
    option_sets = data.get("option_sets", {})
    if not isinstance(option_sets, Mapping):
        raise _fail(where, "option_sets must be an object of named option lists")
    raw_items = data["items"]
    if not isinstance(raw_items, list) or not raw_items:
        raise _fail(where, "items must be a non-empty list")
    images_dir = path.parent / IMAGES_DIRNAME
    items: dict[str, Item] = {}
    for raw in raw_items:
        item = _item(raw, languages, option_sets, where, images_dir)
        if item.id in items:
            raise _fail(f"{where}: item {item.id!r}", "item id duplicated")
        items[item.id] = item
    _check_show_if(items, where)
    order = _order(data, list(items), languages, where)
    scoring = data["scoring"]
    try:
        score_names = check_scoring(scoring, items)
    except ValueError as exc:
        raise _fail(where, f"scoring: {exc}") from None
    alerts = data.get("alerts", [])
    try:
        check_alert_rules(alerts, items, score_names)
    except ValueError as exc:
        raise _fail(where, f"alerts: {exc}") from None
    notes = data.get("notes", "")
    if not isinstance(notes, str):
        raise _fail(where, "notes must be a string")
    return Instrument(
        id=instrument_id,
        version=version,
        title=title,
        citation=_string(data["citation"], where, "citation"),
        licence=_string(data["licence"], where, "licence"),
        validated=data["validated"],
        recall=recall,
        instructions=instructions,
        languages=languages,
        translation_status=dict(status),
        items=tuple(items.values()),
        order=order,
        scoring=scoring,
        alert_rules=tuple(alerts),
        source_path=str(path),
        notes=notes,
    )


def load_library(extra_dirs: Iterable[str | PathLike[str]] = ()) -> Library:
    """Load the shipped definitions plus every *.json in extra_dirs into a `Library`.

    Several files may hold versions of one id (e.g. ``pirc-1.0.json`` and ``pirc.json`` at 2.0):
    the highest version is the current one. One id and version defined twice is refused, and so
    is a private folder's file that redefines a shipped id: a clinic adds instruments, it does not
    replace ours. Raises InstrumentError naming the file.
    """
    files = sorted(DEFINITIONS_DIR.glob("*.json"))
    shipped_count = len(files)
    for folder in extra_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise InstrumentError(f"{folder}: extra instrument folder not found")
        files.extend(sorted(folder.glob("*.json")))
    seen: dict[tuple[str, str], Instrument] = {}
    shipped_ids: dict[str, str] = {}
    for index, file in enumerate(files):
        instrument = load_instrument(file)
        first = seen.get((instrument.id, instrument.version))
        if index >= shipped_count and instrument.id in shipped_ids:
            first_path = shipped_ids[instrument.id]
            raise _fail(file.name, f"instrument id {instrument.id!r} already defined by {first_path}")
        if first is not None:
            raise _fail(
                file.name,
                f"instrument id {instrument.id!r} version {instrument.version} already defined by "
                f"{first.source_path}",
            )
        seen[instrument.id, instrument.version] = instrument
        if index < shipped_count:
            shipped_ids.setdefault(instrument.id, instrument.source_path)
    return Library(seen.values())


@functools.cache
def default_library() -> Library:
    """Return the shipped instruments, loaded and validated once per process (read-only)."""
    return load_library()
