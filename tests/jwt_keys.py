"""Key and token factory for the test suite (auth unit tests and socket-level tests alike).

Tokens are signed here with ``hmac`` and ``cryptography`` directly, not with joserfc, so the engine's
verifier is checked against an independent implementation, and so that deliberately broken tokens
(unsigned, wrong key, algorithm confusion, garbage segments) can be built at all.

Typical use::

    keys = KeyFiles.create(tmp_path)                      # RSA + EC keys, PEMs, a cert, a JWKS
    token = mint({"sub": "alice"}, "RS256", keys.rsa)     # signed compact JWT
    settings = Settings(validate_json_web_tokens=2, json_web_token_path=keys.rsa_public_pem)
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

#: The corectl integration-test token the real engine accepted with secret ``passw0rd``.
CORECTL_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmb2xrZSJ9.MD_revuZ8lCEa6bb-qtfYaHdxBiRMUkuH86c4kd1yC0"
)
CORECTL_SECRET = "passw0rd"

SECRET = "test-secret-with-enough-entropy-0123456789"
OTHER_SECRET = "another-secret-not-configured-9876543210"

_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
_EC_ALG_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _b64int(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


@dataclass(frozen=True)
class KeyPair:
    """An asymmetric private key with the encodings tests need."""

    private: Any  # rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

    @property
    def kind(self) -> str:
        if isinstance(self.private, rsa.RSAPrivateKey):
            return "RSA"
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return "EC"
        return "OKP"

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def cert_pem(self) -> bytes:
        """A self-signed X.509 certificate carrying the public key."""
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qix-engine test")])
        now = datetime.datetime.now(datetime.UTC)
        algorithm = None if self.kind == "OKP" else hashes.SHA256()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.private, algorithm)
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def public_jwk(self, kid: str | None = None, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            nums = public.public_numbers()
            jwk: dict[str, Any] = {"kty": "RSA", "n": _b64int(nums.n), "e": _b64int(nums.e)}
        elif isinstance(public, ec.EllipticCurvePublicKey):
            nums = public.public_numbers()
            size = (public.curve.key_size + 7) // 8
            crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[public.curve.name]
            jwk = {"kty": "EC", "crv": crv, "x": _b64int(nums.x, size), "y": _b64int(nums.y, size)}
        else:
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        if kid is not None:
            jwk["kid"] = kid
        jwk.update(extra)
        return jwk


def rsa_key(bits: int = 2048, index: int = 0) -> KeyPair:
    """An RSA key, cached per (bits, index) so a test session generates each only once."""
    return _rsa_key(bits, index)


def ec_key(curve: str = "P-256", index: int = 0) -> KeyPair:
    """An EC key on ``curve`` (P-256, P-384, P-521), cached per (curve, index)."""
    return _ec_key(curve, index)


@functools.cache
def _rsa_key(bits: int, index: int) -> KeyPair:
    return KeyPair(rsa.generate_private_key(public_exponent=65537, key_size=bits))


@functools.cache
def _ec_key(curve: str, index: int) -> KeyPair:
    return KeyPair(ec.generate_private_key(_CURVES[curve]()))


@functools.cache
def ed25519_key() -> KeyPair:
    return KeyPair(ed25519.Ed25519PrivateKey.generate())


def ec_key_for(alg: str, index: int = 0) -> KeyPair:
    """The EC key whose curve fits ``alg`` (ES256 -> P-256, ...)."""
    return ec_key(_EC_ALG_CURVE[alg], index)


def sign(signing_input: bytes, alg: str, key: str | bytes | KeyPair | None) -> bytes:
    """Signature bytes for ``alg``; HS* take any bytes as the secret (algorithm-confusion tokens too)."""
    if alg == "none":
        return b""
    if alg in _HMAC:
        secret = key.encode() if isinstance(key, str) else key
        if not isinstance(secret, bytes):
            raise TypeError("HS algorithms need a str/bytes secret")
        return hmac.new(secret, signing_input, _HMAC[alg]).digest()
    if not isinstance(key, KeyPair):
        raise TypeError(f"{alg} needs a KeyPair")
    if alg.startswith("RS"):
        return key.private.sign(signing_input, padding.PKCS1v15(), _HASHES[alg[2:]]())
    if alg.startswith("PS"):
        digest = _HASHES[alg[2:]]()
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.private.sign(signing_input, pss, digest)
    if alg.startswith("ES"):
        der = key.private.sign(signing_input, ec.ECDSA(_HASHES[alg[2:]]()))
        r, s = decode_dss_signature(der)
        size = (key.private.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg == "EdDSA":
        return key.private.sign(signing_input)
    raise ValueError(f"unknown alg {alg}")


def mint(
    claims: dict[str, Any],
    alg: str = "HS256",
    key: str | bytes | KeyPair | None = SECRET,
    *,
    kid: str | None = None,
    header: dict[str, Any] | None = None,
) -> str:
    """A compact JWT. ``header`` entries override/extend ``{"alg", "typ", "kid"}``."""
    protected: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        protected["kid"] = kid
    if header:
        protected.update(header)
    signing_input = f"{b64json(protected)}.{b64json(claims)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii'), alg, key))}"


def unsigned(claims: dict[str, Any], *, header: dict[str, Any] | None = None) -> str:
    """An ``alg: none`` token: ``header.payload.`` with an empty signature."""
    return mint(claims, "none", None, header=header)


def confusion_token(public_pem: bytes, claims: dict[str, Any], alg: str = "HS256") -> str:
    """HS* token whose 'secret' is the server's public PEM: the classic algorithm-confusion attack."""
    return mint(claims, alg, public_pem)


def expired(sub: str = "alice", seconds_ago: int = 60, *, as_string: bool = False) -> dict[str, Any]:
    exp = int(time.time()) - seconds_ago
    return {"sub": sub, "exp": str(exp) if as_string else exp}


def valid_for(sub: str = "alice", seconds: int = 3600, *, as_string: bool = False, **extra: Any) -> dict[str, Any]:
    exp = int(time.time()) + seconds
    return {"sub": sub, "exp": str(exp) if as_string else exp, **extra}


def bearer(token: str) -> str:
    return f"Bearer {token}"


@dataclass(frozen=True)
class KeyFiles:
    """A tmp directory of key files covering every JsonWebTokenPath / JsonWebTokenJwksPath case."""

    root: Path
    rsa: KeyPair
    ec256: KeyPair
    ec384: KeyPair
    ec521: KeyPair
    rsa_public_pem: Path
    rsa_private_pem: Path
    rsa_cert_pem: Path
    ec256_public_pem: Path
    ec384_public_pem: Path
    ec521_public_pem: Path
    ec256_cert_pem: Path
    jwks: Path
    not_a_key_pem: Path
    ed25519_public_pem: Path

    #: kids in ``jwks``: RSA, each EC curve, and an HS oct key.
    JWKS_KIDS = ("rsa-1", "ec256-1", "ec384-1", "ec521-1", "hs-1")
    JWKS_OCT_SECRET = b"jwks-oct-secret-0123456789abcdef"

    @classmethod
    def create(cls, root: Path) -> KeyFiles:
        root.mkdir(parents=True, exist_ok=True)
        pair_rsa, e256, e384, e521 = rsa_key(), ec_key("P-256"), ec_key("P-384"), ec_key("P-521")

        def put(name: str, data: bytes | str) -> Path:
            path = root / name
            path.write_bytes(data.encode() if isinstance(data, str) else data)
            return path

        jwks = {
            "keys": [
                pair_rsa.public_jwk("rsa-1", use="sig"),
                e256.public_jwk("ec256-1"),
                e384.public_jwk("ec384-1"),
                e521.public_jwk("ec521-1"),
                {"kty": "oct", "kid": "hs-1", "k": b64url(cls.JWKS_OCT_SECRET)},
                ed25519_key().public_jwk("ed-1"),
            ]
        }
        return cls(
            root=root,
            rsa=pair_rsa,
            ec256=e256,
            ec384=e384,
            ec521=e521,
            rsa_public_pem=put("rsa_public.pem", pair_rsa.public_pem()),
            rsa_private_pem=put("rsa_private.pem", pair_rsa.private_pem()),
            rsa_cert_pem=put("rsa_cert.pem", pair_rsa.cert_pem()),
            ec256_public_pem=put("ec256_public.pem", e256.public_pem()),
            ec384_public_pem=put("ec384_public.pem", e384.public_pem()),
            ec521_public_pem=put("ec521_public.pem", e521.public_pem()),
            ec256_cert_pem=put("ec256_cert.pem", e256.cert_pem()),
            jwks=put("jwks.json", json.dumps(jwks)),
            not_a_key_pem=put("not_a_key.pem", "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"),
            ed25519_public_pem=put("ed25519_public.pem", ed25519_key().public_pem()),
        )
