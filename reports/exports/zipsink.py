"""A write-only file for `zipfile` that hands the bytes written so far to a stream."""

from __future__ import annotations


class ZipSink:
    """Collects what zipfile writes; `drain()` returns it and starts again (a zip streamed as it is built)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        """Keep a copy of the bytes (zipfile may reuse its buffer)."""
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to do: the bytes wait in memory until `drain`."""

    def drain(self) -> bytes:
        """The bytes written since the last drain."""
        data = b"".join(self._parts)
        self._parts.clear()
        return data
