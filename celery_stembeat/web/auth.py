"""Who may use the dashboard: one token, or one user and password, held only as scrypt hashes
and compared in constant time.

The secrets come from the environment (:data:`TOKEN_VARIABLE`, or :data:`USER_VARIABLE` with
:data:`PASSWORD_VARIABLE`, hashed as they are read) or from a JSON file named by
:data:`FILE_VARIABLE` holding hashes made by :func:`hash_secret`::

    {"token_hash": "scrypt$16384$8$1$…"}
    {"user": "ops", "password_hash": "scrypt$16384$8$1$…"}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TOKEN_VARIABLE = "STEMBEAT_WEB_TOKEN"
USER_VARIABLE = "STEMBEAT_WEB_USER"
PASSWORD_VARIABLE = "STEMBEAT_WEB_PASSWORD"
FILE_VARIABLE = "STEMBEAT_WEB_AUTH_FILE"

#: scrypt's cost (n), block size (r) and parallelism (p): 16 MiB and some 50 ms per check.
_COST, _BLOCK, _PARALLEL = 2**14, 8, 1
_SCHEME = "scrypt"


class AuthError(ValueError):
    """The authentication settings cannot be read (the message names the variable or file)."""


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$digest``: ``secret`` hashed with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _COST, _BLOCK, _PARALLEL)
    return f"{_SCHEME}${_COST}${_BLOCK}${_PARALLEL}${salt.hex()}${digest.hex()}"


def _scrypt(secret: str, salt: bytes, cost: int, block: int, parallel: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=cost, r=block, p=parallel, maxmem=2**26, dklen=32
    )


def _checked_hash(hashed: str, where: str) -> str:
    """``hashed`` when it reads as :func:`hash_secret` output, else an AuthError."""
    parts = hashed.split("$") if isinstance(hashed, str) else []
    try:
        valid = len(parts) == 6 and parts[0] == _SCHEME and all(map(int, parts[1:4]))
        valid = valid and bool(bytes.fromhex(parts[4])) and len(bytes.fromhex(parts[5])) == 32
    except ValueError:
        valid = False
    if not valid:
        raise AuthError(f"{where}: not a hash made by celery_stembeat.web.auth.hash_secret")
    return hashed


def matches(secret: str, hashed: str) -> bool:
    """Whether ``secret`` hashes to ``hashed`` (compared in constant time)."""
    _, cost, block, parallel, salt, digest = hashed.split("$")
    found = _scrypt(secret, bytes.fromhex(salt), int(cost), int(block), int(parallel))
    return hmac.compare_digest(found, bytes.fromhex(digest))


@dataclass(frozen=True)
class WebAuth:
    """What signing in takes: a token (``token_hash``), or ``user`` and a password
    (``password_hash``); the hashes are :func:`hash_secret`'s."""

    token_hash: str | None = None
    user: str | None = None
    password_hash: str | None = None

    def __post_init__(self) -> None:
        if (self.token_hash is None) == (self.password_hash is None):
            raise AuthError("web auth: give a token hash, or a user and a password hash")
        if self.password_hash is not None and not self.user:
            raise AuthError("web auth: a password needs a user name")
        _checked_hash(self.token_hash or self.password_hash or "", "web auth")

    @classmethod
    def token(cls, token: str) -> WebAuth:
        """Signing in with ``token``."""
        return cls(token_hash=hash_secret(token))

    @classmethod
    def password(cls, user: str, password: str) -> WebAuth:
        """Signing in as ``user`` with ``password``."""
        return cls(user=user, password_hash=hash_secret(password))

    @property
    def uses_token(self) -> bool:
        """Whether a token (rather than a user and password) signs in."""
        return self.token_hash is not None

    def check(self, user: str, secret: str) -> str | None:
        """Who signed in (the user's name; ``""`` for the token) when ``user`` and ``secret``
        are right, else ``None``. The hash is computed whatever the user given, so a wrong
        name takes as long as a wrong password."""
        if self.token_hash is not None:
            return "" if matches(secret, self.token_hash) else None
        right_secret = matches(secret, self.password_hash or "")
        right_user = hmac.compare_digest(user.encode(), (self.user or "").encode())
        return self.user if right_secret and right_user else None


def auth_from_file(path: str) -> WebAuth:
    """The :class:`WebAuth` of a JSON file of hashes (see the module's docstring)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuthError(f"{FILE_VARIABLE} {path}: {exc}") from None
    if not isinstance(data, dict) or not set(data) <= {"token_hash", "user", "password_hash"}:
        raise AuthError(
            f"{FILE_VARIABLE} {path}: expected an object with token_hash, or user and password_hash"
        )
    try:
        return WebAuth(**data)
    except AuthError as exc:
        raise AuthError(f"{FILE_VARIABLE} {path}: {exc}") from None


def auth_from_environment(environ: Mapping[str, str] | None = None) -> WebAuth | None:
    """The authentication the environment configures, or ``None`` (then nobody signs in)."""
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_VARIABLE)
    user, password = environ.get(USER_VARIABLE), environ.get(PASSWORD_VARIABLE)
    path = environ.get(FILE_VARIABLE)
    given = [name for name, value in ((TOKEN_VARIABLE, token), (FILE_VARIABLE, path)) if value]
    if user or password:
        given.append(f"{USER_VARIABLE}/{PASSWORD_VARIABLE}")
    if len(given) > 1:
        raise AuthError(f"web auth: set one of {', '.join(given)}, not several")
    if token:
        return WebAuth.token(token)
    if path:
        return auth_from_file(path)
    if user or password:
        if not (user and password):
            raise AuthError(f"web auth: {USER_VARIABLE} and {PASSWORD_VARIABLE} go together")
        return WebAuth.password(user, password)
    return None
