"""PostgreSQL password verifiers: whether a stored one is that of a password, without sending the password.

``pg_authid.rolpassword`` holds a SCRAM-SHA-256 verifier (RFC 5802/7677, the
default from PostgreSQL 14), an MD5 hash (older servers or
``password_encryption = md5``) or, before PostgreSQL 10, plain text. The
controller recomputes what the server would store for a password and compares.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re


def _saslprep(password: str) -> str:
    """The password as PostgreSQL hashes it for SCRAM (RFC 4013 SASLprep; unchanged where that fails)."""
    if password.isascii():
        return password
    import stringprep
    import unicodedata

    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    text = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_a1,
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    if not text or any(check(c) for c in text for check in prohibited):
        return password
    right_to_left = any(stringprep.in_table_d1(c) for c in text)
    mixed = any(stringprep.in_table_d2(c) for c in text)
    if right_to_left and (mixed or not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1]))):
        return password
    return text


def _scram_keys(password: str, salt: bytes, iterations: int) -> tuple[str, str]:
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password).encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode(), base64.b64encode(server_key).decode()


def verifies(verifier: str | None, role: str, password: str) -> bool:
    """Whether a stored verifier (``pg_authid.rolpassword``) is that of ``password``.

    SCRAM-SHA-256 (PostgreSQL 10 and later, the default from 14), MD5, and
    plain text (before 10); None (no password) never matches.
    """
    if verifier is None:
        return False
    scram = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier)
    if scram is not None:
        iterations, salt, stored_key, server_key = scram.groups()
        try:
            keys = _scram_keys(password, base64.b64decode(salt), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(keys[0], stored_key) and hmac.compare_digest(keys[1], server_key)
    if re.fullmatch(r"md5[0-9a-f]{32}", verifier):
        digest = "md5" + hashlib.md5((password + role).encode("utf-8")).hexdigest()
        return hmac.compare_digest(digest, verifier)
    return hmac.compare_digest(verifier.encode("utf-8"), password.encode("utf-8"))


def predicted_verifier(role: str, password: str) -> str:
    """A SCRAM verifier of ``password``, for the predicted state only (its salt is derived, not random)."""
    salt = hashlib.sha256(b"paracrine-prediction\0" + role.encode("utf-8")).digest()[:16]
    stored_key, server_key = _scram_keys(password, salt, 4096)
    return f"SCRAM-SHA-256$4096:{base64.b64encode(salt).decode()}${stored_key}:{server_key}"
