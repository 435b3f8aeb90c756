"""The audit trail's signing key (Ed25519, from `cryptography`), kept outside the database.

The private key lives in a PEM file: `AUDIT_KEY_FILE` if set, else `instance/audit_signing_key.pem`,
created 0600 on first use (written whole, then linked into place, so two workers starting together
agree on one key and neither reads it half-written). Someone who can write to the database but not
read this file cannot sign an event or a checkpoint, so forged, recomputed, truncated or emptied
trails are detected. Keep a copy of the public key (printed by `flask --app app audit verify`)
somewhere else; back the key file up with the instance folder.
"""

from __future__ import annotations

import base64
import os
import secrets
from contextlib import suppress
from functools import cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app, has_app_context

from surveys.infra.files import PRIVATE_FILE, make_private

KEY_FILE_NAME = "audit_signing_key.pem"


def key_path() -> Path:
    """Where this app's audit signing key is (configured, or in the instance folder)."""
    configured = current_app.config.get("AUDIT_KEY_FILE")
    return Path(configured) if configured else Path(current_app.instance_path) / KEY_FILE_NAME


def checkpoint_path() -> Path:
    """The file that keeps a copy of every signed audit checkpoint outside the database
    (`AUDIT_CHECKPOINT_FILE`, else `instance/audit_checkpoints.jsonl`)."""
    configured = current_app.config.get("AUDIT_CHECKPOINT_FILE")
    return Path(configured) if configured else Path(current_app.instance_path) / "audit_checkpoints.jsonl"


@cache
def _load_or_create(path: str) -> Ed25519PrivateKey:
    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        # Written whole under a name of this process's own, then linked into place: the link fails
        # when another process got there first (use theirs), and nobody ever reads a half-written key.
        draft = file.with_name(f".{file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            with suppress(FileExistsError):
                os.link(draft, file)
        finally:
            draft.unlink()
    make_private(file)
    key = serialization.load_pem_private_key(file.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{file} does not hold an Ed25519 private key")
    return key


def signing_key() -> Ed25519PrivateKey | None:
    """The app's signing key, or None outside an app (a script writing rows by itself signs nothing)."""
    if not has_app_context():
        return None
    return _load_or_create(str(key_path()))


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """An Ed25519 signature of `message`, base64 (88 characters)."""
    return base64.b64encode(key.sign(message)).decode("ascii")


def signature_ok(public: Ed25519PublicKey, message: bytes, signature: str | None) -> bool:
    """True when `signature` (base64) is `public`'s signature of `message`."""
    if not signature:
        return False
    try:
        public.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_text(public: Ed25519PublicKey) -> str:
    """The public key as one base64 line (raw 32 bytes), to keep somewhere else and compare."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")
