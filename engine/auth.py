"""JWT authentication at the websocket upgrade: ``Authorization: Bearer <token>`` -> :class:`Identity`.

Mirrors the engine's ``ValidateJsonWebTokens`` levels: 0 ignores the header (everyone is
``Personal\\Me``), 1 requires a token that is either unsigned (``alg: none``) or correctly signed, 2
requires a correctly signed token. Signed means HS256/384/512 with ``JsonWebTokenSecret``, or
RS256/384/512 / ES256/384/512 with the public key in ``JsonWebTokenPath`` or a key of the JWKS in
``JsonWebTokenJwksPath``. Each algorithm family only ever meets its own key type, so a token "signed"
with a public key used as an HMAC secret (algorithm confusion) cannot pass.

Key material is parsed once, at construction, so a bad key stops the engine before it listens and the
per-token cost is verification only. Nothing here knows about sockets or sessions.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from engine.settings import Settings, SettingsError

PERSONAL_USER = "Personal\\Me"

#: Longest bearer token accepted; real tokens are a few hundred bytes, and websockets caps header
#: lines at 8 KiB anyway. Checked before any decoding.
MAX_TOKEN_LENGTH = 16 * 1024

HMAC_ALGS = ("HS256", "HS384", "HS512")
RSA_ALGS = ("RS256", "RS384", "RS512")
EC_ALGS = ("ES256", "ES384", "ES512")
SIGNED_ALGS = HMAC_ALGS + RSA_ALGS + EC_ALGS

#: alg -> joserfc key type it must be verified with.
_ALG_KEY_TYPE = {
    **dict.fromkeys(HMAC_ALGS, "oct"),
    **dict.fromkeys(RSA_ALGS, "RSA"),
    **dict.fromkeys(EC_ALGS, "EC"),
}
#: ES alg -> the only curve it may use (RFC 7518 3.4).
_ES_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_SUPPORTED_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
_B64URL_TO_STD = bytes.maketrans(b"-_", b"+/")
#: Per-segment bounds (same as joserfc's defaults: no legitimate header or signature is larger).
_MAX_HEADER_SEGMENT = 1024
_MAX_SIGNATURE_SEGMENT = 1024

_NUMERIC_STRING = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

#: Successful verifications remembered per token string (a reconnect burst re-sends the same token).
_CACHE_SIZE = 4096

AnyKey = OctKey | RSAKey | ECKey


class AuthError(Exception):
    """The upgrade request does not authenticate; the server answers 401.

    ``reason`` is short and safe to log or send: it never contains the token or key material.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Identity:
    """Who is on the other end of a connection.

    ``user`` is the JWT ``sub`` (section access USERID) or ``Personal\\Me``; ``groups`` feeds the GROUP
    column; ``claims`` is a read-only copy of the whole payload (for ABAC-style rules).
    """

    user: str
    groups: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict, hash=False)
    authenticated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.claims, MappingProxyType):
            object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))
        if not isinstance(self.groups, tuple):
            object.__setattr__(self, "groups", tuple(self.groups))

    @classmethod
    def personal(cls) -> Identity:
        """The single anonymous user of ``ValidateJsonWebTokens=0``."""
        return _PERSONAL


_PERSONAL = Identity(user=PERSONAL_USER)


@dataclass(frozen=True)
class _Cached:
    identity: Identity
    exp: float | None
    nbf: float | None


class Authenticator:
    """Verifies bearer tokens according to the JWT settings; build once, call per upgrade request.

    ``clock`` returns the current Unix time (tests pin it). Successful verifications are remembered
    per token string (bounded), with exp/nbf re-checked on every use.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.level = settings.validate_json_web_tokens
        self._clock = clock
        self._leeway = settings.json_web_token_leeway
        self._audience = settings.json_web_token_audience
        self._issuer = settings.json_web_token_issuer
        self._secret: OctKey | None = None
        self._pem_key: RSAKey | ECKey | None = None
        self._jwks_by_kid: dict[str, AnyKey] = {}
        self._jwks_keys: tuple[AnyKey, ...] = ()
        # strict_check_header=False: tokens from common libraries carry extra header fields; `crit`
        # stays strict (an unknown critical extension still fails).
        self._registry = jws.JWSRegistry(algorithms=list(SIGNED_ALGS), strict_check_header=False)
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        #: Configuration smells worth a warning line (logged by the CLI once startup is known good).
        self.config_warnings: tuple[str, ...] = ()
        if self.level == 0:
            return
        if settings.json_web_token_secret:
            self._secret = _load_secret(settings.json_web_token_secret)
            if len(self._secret.raw_value) < 14:
                self.config_warnings += (
                    "JsonWebTokenSecret is shorter than 14 bytes (112 bits): HS tokens are easy to forge",
                )
        if settings.json_web_token_path is not None:
            self._pem_key = load_pem_key(settings.json_web_token_path)
        if settings.json_web_token_jwks_path is not None:
            self._jwks_keys, self._jwks_by_kid = load_jwks(settings.json_web_token_jwks_path)
        if self._secret is None and self._pem_key is None and not self._jwks_keys:
            raise SettingsError(
                "ValidateJsonWebTokens",
                f"level {self.level} needs JsonWebTokenSecret, JsonWebTokenPath or JsonWebTokenJwksPath",
            )

    # -- public -----------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Identity:
        """Identity for the value of the upgrade request's ``Authorization`` header (None if absent).

        Raises AuthError when the engine must answer 401. Never raises anything else.
        """
        if self.level == 0:
            return _PERSONAL
        if authorization is None:
            raise AuthError("missing Authorization header")
        parts = authorization.split(None, 1)
        if not parts or parts[0].lower() != "bearer":
            raise AuthError("Authorization scheme must be Bearer")
        return self.verify_token(parts[1].strip() if len(parts) == 2 else "")

    def verify_token(self, token: str) -> Identity:
        """Identity for a bare compact JWT, under this authenticator's level and keys."""
        if self.level == 0:
            return _PERSONAL
        if not token:
            raise AuthError("empty bearer token")
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthError("token too large")
        cached = self._cache.get(token)
        if cached is not None:
            self._check_times(cached.exp, cached.nbf)
            return cached.identity
        claims = self._verified_claims(token)
        identity, exp, nbf = self._identity_from_claims(claims)
        if len(self._cache) >= _CACHE_SIZE:
            try:
                self._cache.popitem(last=False)
            except KeyError:  # emptied meanwhile by another thread: nothing to evict
                pass
        self._cache[token] = _Cached(identity, exp, nbf)
        return identity

    # -- signature ----------------------------------------------------------------------------------

    def _verified_claims(self, token: str) -> dict[str, Any]:
        """Parse the compact JWS ourselves (cheap, strict) and let joserfc check header and signature.

        joserfc's own compact parser costs about as much as the HMAC check again; the header
        registry check (``crit``, typed registered parameters) and the algorithm implementations are
        joserfc's.
        """
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise AuthError("malformed token") from None
        parts = raw.split(b".")
        if len(parts) != 3:
            raise AuthError("malformed token: expected header.payload.signature")
        header_seg, payload_seg, signature_seg = parts
        if len(header_seg) > _MAX_HEADER_SEGMENT or len(signature_seg) > _MAX_SIGNATURE_SEGMENT:
            raise AuthError("malformed token: oversized segment")
        try:
            header = orjson.loads(_b64url_decode(header_seg))
        except ValueError:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
            raise AuthError("malformed token header") from None
        if not isinstance(header, dict):
            raise AuthError("malformed token header")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise AuthError("malformed token header: alg")
        if "b64" in header:
            raise AuthError("unencoded payload (b64) not accepted")
        try:
            self._registry.check_header(header)
            if alg == "none":
                if self.level != 1:
                    raise AuthError("unsigned token not accepted (ValidateJsonWebTokens=2)")
                if signature_seg:
                    raise AuthError("unsigned token must have an empty signature")
            else:
                key = self._key_for(alg, header.get("kid"))
                model = self._registry.get_alg(alg)
                model.check_key(key)
                signature = _b64url_decode(signature_seg)
                if not model.verify(header_seg + b"." + payload_seg, signature, key):
                    raise AuthError("bad signature")
            claims = orjson.loads(_b64url_decode(payload_seg))
        except JoseError as err:
            raise AuthError(_jose_reason(err, "token rejected")) from None
        except orjson.JSONDecodeError:
            raise AuthError("malformed token payload") from None
        except (ValueError, TypeError):
            raise AuthError("malformed token") from None
        if not isinstance(claims, dict):
            raise AuthError("malformed token payload: not a JSON object")
        return claims

    def _key_for(self, alg: str, kid: Any) -> AnyKey:
        """The configured key that may verify ``alg``; the algorithm family decides the key type."""
        key_type = _ALG_KEY_TYPE.get(alg)
        if key_type is None:
            raise AuthError("algorithm not accepted")
        key: AnyKey | None
        if kid is not None and self._jwks_keys:
            key = self._jwks_by_kid.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise AuthError("unknown key id")
        elif key_type == "oct":
            key = self._secret
        elif self._pem_key is not None and self._pem_key.key_type == key_type:
            key = self._pem_key
        else:
            fitting = [k for k in self._jwks_keys if _fits(k, alg)]
            key = fitting[0] if len(fitting) == 1 else None
            if key is None and len(fitting) > 1:
                raise AuthError("token has no key id (kid)")
        if key is None:
            raise AuthError("no key configured for the token's algorithm")
        if not _fits(key, alg):
            raise AuthError("algorithm does not fit the key")
        return key

    # -- claims -------------------------------------------------------------------------------------

    def _identity_from_claims(self, claims: dict[str, Any]) -> tuple[Identity, float | None, float | None]:
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip():
            raise AuthError("sub claim missing or not a non-empty string")
        exp = _numeric_date(claims, "exp")
        nbf = _numeric_date(claims, "nbf")
        self._check_times(exp, nbf)
        groups: tuple[str, ...] = ()
        if "groups" in claims:
            raw_groups = claims["groups"]
            if not isinstance(raw_groups, list) or not all(isinstance(g, str) for g in raw_groups):
                raise AuthError("groups claim must be an array of strings")
            groups = tuple(raw_groups)
        if self._audience is not None:
            aud = claims.get("aud")
            if not (aud == self._audience or (isinstance(aud, list) and self._audience in aud)):
                raise AuthError("aud claim does not match JsonWebTokenAudience")
        if self._issuer is not None and claims.get("iss") != self._issuer:
            raise AuthError("iss claim does not match JsonWebTokenIssuer")
        return Identity(user=sub, groups=groups, claims=claims, authenticated=True), exp, nbf

    def _check_times(self, exp: float | None, nbf: float | None) -> None:
        now = self._clock()
        if exp is not None and now >= exp + self._leeway:
            raise AuthError("token expired")
        if nbf is not None and now + self._leeway < nbf:
            raise AuthError("token not yet valid (nbf)")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _b64url_decode(segment: bytes) -> bytes:
    """Strict unpadded base64url (RFC 7515 section 2); anything else raises ValueError."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    return binascii.a2b_base64(segment.translate(_B64URL_TO_STD) + b"=" * (-len(segment) % 4))


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim as float; numeric strings pass too (Qlik's own docs write ``"exp": "1541173994"``)."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool):
        raise AuthError(f"{name} claim is not a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _NUMERIC_STRING.fullmatch(value):
        number = float(value)
    else:
        raise AuthError(f"{name} claim is not a number")
    if not math.isfinite(number):
        raise AuthError(f"{name} claim is not a number")
    return number


def _fits(key: AnyKey, alg: str) -> bool:
    """Whether ``key`` may verify ``alg``: same family, EC curve matching, JWK ``alg``/``use`` respected."""
    if key.key_type != _ALG_KEY_TYPE.get(alg):
        return False
    if isinstance(key, ECKey) and key.curve_name != _ES_CURVE[alg]:
        return False
    designed = key.get("alg")
    if designed and designed != alg:
        return False
    use = key.get("use")
    return not use or use == "sig"


def _jose_reason(err: JoseError, fallback: str) -> str:
    """A short reason from a joserfc error: its fixed error code only, since descriptions may quote
    attacker-supplied header values."""
    return f"{fallback} ({err.error})" if err.error else fallback


def _load_secret(secret: str) -> OctKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        try:
            key = OctKey.import_key(secret.encode("utf-8"))
        except ValueError:
            raise SettingsError(
                "JsonWebTokenSecret", "must be a shared secret, not a public key or certificate"
            ) from None
    return key


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise SettingsError(setting, f"cannot read {path}: {err.strerror or err}") from None


def _public_key_from_pem(data: bytes) -> Any:
    """The public key in PEM bytes: a public key, an X.509 certificate, or (leniently) a private key."""
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        pass
    try:
        return x509.load_pem_x509_certificate(data).public_key()
    except (ValueError, UnsupportedAlgorithm, TypeError):
        pass
    try:
        return serialization.load_pem_private_key(data, password=None).public_key()
    except (ValueError, UnsupportedAlgorithm, TypeError):
        return None


def load_pem_key(path: Path) -> RSAKey | ECKey:
    """The RSA or EC verification key of the PEM file at ``path`` (JsonWebTokenPath)."""
    setting = "JsonWebTokenPath"
    public = _public_key_from_pem(_read(setting, path))
    if public is None:
        raise SettingsError(setting, f"{path} holds no PEM public key or X.509 certificate")
    spki = (
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        else b""
    )
    if isinstance(public, rsa.RSAPublicKey):
        return RSAKey.import_key(spki)
    if isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name not in _SUPPORTED_EC_CURVES:
            raise SettingsError(setting, f"EC curve {public.curve.name} not supported (P-256, P-384, P-521)")
        return ECKey.import_key(spki)
    raise SettingsError(setting, f"{type(public).__name__} keys are not supported (RSA or EC only)")


def load_jwks(path: Path) -> tuple[tuple[AnyKey, ...], dict[str, AnyKey]]:
    """Signature keys of the JWKS file at ``path`` (JsonWebTokenJwksPath) and their index by ``kid``.

    Keys of types we cannot verify with (e.g. OKP) and encryption keys are skipped, as RFC 7517 asks;
    a set with no usable key, a duplicate ``kid`` or a broken key is a settings error.
    """
    setting = "JsonWebTokenJwksPath"
    try:
        document = json.loads(_read(setting, path))
    except ValueError:
        raise SettingsError(setting, f"{path} is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise SettingsError(setting, f'{path} is not a JWKS (expected an object with a "keys" array)')
    usable = [
        jwk
        for jwk in document["keys"]
        if isinstance(jwk, dict) and jwk.get("kty") in ("oct", "RSA", "EC") and jwk.get("use", "sig") == "sig"
    ]
    if not usable:
        raise SettingsError(setting, f"{path} holds no RSA, EC or oct signature key")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            key_set = KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError, KeyError) as err:
        raise SettingsError(setting, f"{path}: bad key: {err}") from None
    by_kid: dict[str, AnyKey] = {}
    keys: list[AnyKey] = []
    for key in key_set.keys:
        if not isinstance(key, AnyKey):  # not reached: ``usable`` holds RSA, EC and oct keys only
            continue
        if isinstance(key, ECKey) and key.curve_name not in _ES_CURVE.values():
            raise SettingsError(setting, f"{path}: EC curve {key.curve_name} not supported")
        kid = key.kid
        if kid is not None:
            if kid in by_kid:
                raise SettingsError(setting, f"{path}: duplicate kid {kid!r}")
            by_kid[kid] = key
        keys.append(key)
    return tuple(keys), by_kid
