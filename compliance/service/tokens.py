"""API tokens: random secrets, stored only as hashes, each scoped to jurisdictions.

The secret has 256 random bits, so a plain SHA-256 is enough to store it (no salt or slow
hash needed: there is no dictionary to guess from), and lets a request be matched with
one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select

from compliance.service.db import Database, TokenRow, utcnow

PREFIX = "cpl_"
ALL = "*"
CACHE_SECONDS = 5.0  # a revoked token stops working within this long


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    jurisdictions: tuple[str, ...]
    rate: float | None
    revoked: bool = False

    def may_access(self, jurisdiction: str) -> bool:
        return ALL in self.jurisdictions or jurisdiction in self.jurisdictions


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    db: Database, jurisdictions: list[str], name: str | None = None, rate: float | None = None
) -> tuple[str, Token]:
    """A new token; the secret is returned once and never stored."""
    scopes = sorted({j.strip() for j in jurisdictions if j.strip()})
    if not scopes:
        raise ValueError("a token needs at least one jurisdiction (or * for all)")
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive")
    secret = PREFIX + secrets.token_urlsafe(32)
    with db.write() as session:
        row = TokenRow(name=name or f"token-{','.join(scopes)}", token_hash=hash_secret(secret),
                       jurisdictions=scopes, rate=rate)  # fmt: skip
        session.add(row)
        session.commit()
        return secret, _token(row)


def list_tokens(db: Database) -> list[Token]:
    with db.read() as session:
        return [_token(row) for row in session.scalars(select(TokenRow).order_by(TokenRow.id))]


def revoke_token(db: Database, token_id: int) -> bool:
    with db.write() as session:
        row = session.get(TokenRow, token_id)
        if row is None:
            return False
        row.revoked_at = row.revoked_at or utcnow()
        session.commit()
        return True


def _token(row: TokenRow) -> Token:
    return Token(row.id, row.name, tuple(row.jurisdictions), row.rate, row.revoked_at is not None)


class TokenVerifier:
    """Looks secrets up by hash, with a short cache so that a busy client costs no query per call."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, Token | None]] = {}
        self._lock = threading.Lock()

    def verify(self, secret: str) -> Token | None:
        digest = hash_secret(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[0] > now:
                return hit[1]
        with self.db.read() as session:
            row = session.scalars(select(TokenRow).where(TokenRow.token_hash == digest)).first()
            token = _token(row) if row is not None and row.revoked_at is None else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + CACHE_SECONDS, token)
        return token
