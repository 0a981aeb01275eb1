"""Station tokens and scopes: who is asking, and which villages they may read and write."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "ybs_"

SCOPE_VILLAGE = "village"
SCOPE_TOWNSHIP = "township"
SCOPE_COUNTY = "county"
SCOPES = (SCOPE_VILLAGE, SCOPE_TOWNSHIP, SCOPE_COUNTY)


def new_token() -> str:
    """256 random bits: shown once to the county admin, never stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """A plain sha256 is enough for a 256-bit random token (nothing to brute-force), and keeps
    every request's lookup to one indexed equality; argon2 is for human passwords."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StationCtx:
    """The authenticated caller and its scope, resolved once per request."""

    id: int
    code: str
    name: str
    scope: str
    place_code: str
    #: Place codes the station may read and write (villages, and its township itself);
    #: None means the whole county.
    codes: frozenset[str] | None

    @property
    def is_county(self) -> bool:
        return self.codes is None

    def covers(self, code: str | None) -> bool:
        if self.codes is None:
            return True
        return code is not None and code in self.codes

    def scope_list(self) -> list[str] | None:
        return None if self.codes is None else sorted(self.codes)


class ApiError(Exception):
    """An error answered with a status, a code and a Chinese message (nothing was applied)."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
