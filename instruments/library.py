"""The instrument library: every kept version of each definition, the newest one current.

A changed definition is a new version (a new file, e.g. ``pirc.json`` at 2.0 beside
``pirc-1.0.json``); the old file stays so that a response answered in 1.0 is still validated,
scored, alerted and shown with the 1.0 rules. New responses use the current version: the
highest version number of an id.

`Library` reads like a plain mapping of id -> current `Instrument`, so code that only needs the
current definitions keeps working; `version(id, v)` and `versions(id)` reach the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from instruments.model import Instrument

VERSION_PATTERN = re.compile(r"\d+(\.\d+)*\Z")


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a version string: '2.0' -> (2, 0), so '10.0' comes after '9.1'.

    Raises ValueError for a version that is not dot-separated whole numbers.
    """
    if not VERSION_PATTERN.match(version):
        raise ValueError(f"version {version!r} must be dot-separated whole numbers, e.g. '2.0'")
    return tuple(int(part) for part in version.split("."))


class Library(Mapping[str, Instrument]):
    """Instrument id -> current version, with every kept version of each id reachable."""

    __slots__ = ("_current", "_versions")

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        versions: dict[str, dict[str, Instrument]] = {}
        for instrument in instruments:
            kept = versions.setdefault(instrument.id, {})
            if instrument.version in kept:
                raise ValueError(
                    f"instrument {instrument.id!r} version {instrument.version} defined twice "
                    f"({kept[instrument.version].source_path} and {instrument.source_path})"
                )
            kept[instrument.version] = instrument
        self._versions = {
            iid: dict(sorted(kept.items(), key=lambda pair: version_key(pair[0])))
            for iid, kept in versions.items()
        }
        self._current = {iid: list(kept.values())[-1] for iid, kept in self._versions.items()}

    def __getitem__(self, instrument_id: str) -> Instrument:
        return self._current[instrument_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)

    def __repr__(self) -> str:
        kept = ", ".join(f"{iid} {'/'.join(v)}" for iid, v in self._versions.items())
        return f"Library({kept})"

    def versions(self, instrument_id: str) -> tuple[Instrument, ...]:
        """Every kept version of an id, oldest first; KeyError for an unknown id."""
        return tuple(self._versions[instrument_id].values())

    def version(self, instrument_id: str, version: str) -> Instrument:
        """One version of an id; KeyError naming what exists when either is unknown."""
        kept = self._versions.get(instrument_id)
        if kept is None:
            raise KeyError(f"unknown instrument {instrument_id!r}")
        if version not in kept:
            kept_text = ", ".join(kept)
            raise KeyError(f"{instrument_id}: version {version!r} not in the library (kept: {kept_text})")
        return kept[version]

    def all_versions(self) -> tuple[Instrument, ...]:
        """Every kept definition, by id then oldest first."""
        return tuple(inst for kept in self._versions.values() for inst in kept.values())


def resolve(library: Mapping[str, Instrument], instrument_id: str, version: str | None) -> Instrument:
    """The definition a stored response was answered in: (id, version) from the library.

    `library` may be a `Library` or a plain mapping of current definitions (then only the current
    version is known). `version` None means the current one. Raises KeyError when the id or the
    version is not in the library: a response is never read with another version's rules.
    """
    current = library[instrument_id]
    if version is None or version == current.version:
        return current
    if isinstance(library, Library):
        return library.version(instrument_id, version)
    raise KeyError(f"{instrument_id}: version {version!r} not in the library (current: {current.version})")


def versions_of(library: Mapping[str, Instrument], instrument_id: str) -> tuple[Instrument, ...]:
    """Every kept version of an id (just the current one for a plain mapping), oldest first."""
    if isinstance(library, Library):
        return library.versions(instrument_id)
    return (library[instrument_id],)
