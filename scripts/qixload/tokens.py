"""One JWT per simulated user: ``sub`` = ``<prefix><n>``, ``groups``, extra claims; HS*, RS* or ES*.

The algorithm follows the key as scripts/token.py does it: HS256 with a secret, RS256 for an RSA key, ES256/
384/512 by the curve of an EC key. The parsed key is kept (RSA parsing costs milliseconds; a thousand users
sign with the same key).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

_EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


class TokenError(ValueError):
    """The key or algorithm cannot sign tokens; the message says why in one line."""


def merge_claims(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` into ``into`` (objects key by key, anything else replaced); returns ``into``."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge_claims(into[key], value)
        else:
            into[key] = value
    return into


def load_key(alg: str | None, secret: str | None, pem: str | None) -> tuple[str, OctKey | RSAKey | ECKey]:
    """The algorithm and parsed key for a secret or a PEM private key."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # short test secrets are the user's choice
        if secret is not None:
            alg = alg or "HS256"
            if not alg.startswith("HS"):
                raise TokenError(f"--secret signs HS256/384/512 tokens, not {alg}")
            return alg, OctKey.import_key(secret.encode())
        if pem is None:
            raise TokenError("no secret and no key")
        for key_cls in (RSAKey, ECKey):
            try:
                key = key_cls.import_key(pem)
            except (ValueError, TypeError, JoseError):
                continue
            if not key.is_private:
                raise TokenError("the key is a public key; signing needs the private key")
            if isinstance(key, RSAKey):
                chosen = alg or "RS256"
                expected = "RS"
            else:
                chosen = alg or _EC_ALG_BY_CURVE.get(key.curve_name, "ES256")
                expected = "ES"
            if not chosen.startswith(expected):
                raise TokenError(f"{chosen} does not fit the {key.key_type} key")
            return chosen, key
    raise TokenError("the key file holds no RSA or EC private key")


@dataclass(frozen=True)
class TokenMinter:
    """Signs each user's token; ``lifetime`` seconds of validity (the run plus an hour is plenty)."""

    alg: str
    key: OctKey | RSAKey | ECKey
    groups: Sequence[str] = ()
    claims: dict[str, Any] = field(default_factory=dict)
    lifetime: int = 3600

    @classmethod
    def create(cls, *, alg: str | None, secret: str | None, pem: str | None, groups: Sequence[str] = (),
               claims: dict[str, Any] | None = None, lifetime: int = 3600) -> TokenMinter:
        chosen, key = load_key(alg, secret, pem)
        minter = cls(chosen, key, tuple(groups), dict(claims or {}), lifetime)
        try:
            minter.mint("probe")
        except JoseError as err:
            raise TokenError(f"cannot sign {chosen} tokens with the given key: {err.description or err.error}") \
                from None
        return minter

    def mint(self, sub: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": sub, "name": sub, "iat": now, "exp": now + self.lifetime}
        if self.groups:
            claims["groups"] = list(self.groups)
        merge_claims(claims, self.claims)
        claims["sub"] = sub  # extra claims add to the identity, they do not replace it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            return jwt.encode({"alg": self.alg, "typ": "JWT"}, claims, self.key, algorithms=[self.alg])
