"""The time zones a study may follow: real IANA zone names, one list for every path that takes one
(the settings page and `studies set`, study creation, the server's DEFAULT_TIMEZONE).

`zoneinfo.available_timezones()` also lists files of the zone folder that are not zones: `localtime`
(whatever the server's clock is set to: a study's windows would move with the server), `posixrules`,
`Factory` (IANA's "zone unknown" placeholder, abbreviation "-00"), and the `posix/` and `right/`
copies (the latter counts leap seconds). Those are left out; every other name, including IANA's
backward-compatible links (`US/Eastern`, `UTC`), stays valid, so a study keeps the zone it has.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
NOT_ZONE_FOLDERS = ("posix/", "right/")
MAX_ZONE_NAME = 64  # Study.timezone


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA zone names a study may use (read once from zoneinfo), e.g. Europe/Paris."""
    return frozenset(name for name in zoneinfo.available_timezones()
                     if name not in NOT_ZONES and not name.startswith(NOT_ZONE_FOLDERS)
                     and len(name) <= MAX_ZONE_NAME)


def is_zone_name(name: str | None) -> bool:
    """True when `name` is one of `zone_names()` (exact spelling); False for anything else."""
    return bool(name) and name in zone_names()
