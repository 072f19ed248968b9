"""Mint JWTs for qix-engine users and tests, and generate signing keys.

Examples::

    # HS256 for an engine started with -S ValidateJsonWebTokens=2 -S JsonWebTokenSecret=passw0rd
    python scripts/token.py --sub folke --secret passw0rd

    # RS256 with groups, valid for one hour, exp written as a string like Qlik's docs do
    python scripts/token.py --sub alice --groups Sales,EU --exp-in 3600 --exp-string --key keys/private.pem

    # claims for access-control rules (user.roles, user.custom.country, user.allowCreate)
    python scripts/token.py --sub ada --secret passw0rd --claims '{"roles": ["admin"], "custom": {"country": "SE"}}' \
        --claim allowCreate=true --claim custom.region=north

    # an unsigned token (accepted only with ValidateJsonWebTokens=1)
    python scripts/token.py --sub bob --alg none

    # a key pair: keys/private.pem, keys/public.pem (for JsonWebTokenPath), keys/jwks.json
    python scripts/token.py --gen-key ec256 --out keys --kid k1

The token is printed on stdout; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import os
import sys

# Run as ``python scripts/token.py``, this file's directory heads sys.path and the file itself would
# shadow the standard library's ``token`` module (imported by ``tokenize``, hence by ``inspect`` and
# ``dataclasses``). Drop that entry before importing anything else.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from joserfc import jwt  # noqa: E402
from joserfc.errors import JoseError, SecurityWarning  # noqa: E402
from joserfc.jwk import ECKey, OctKey, RSAKey  # noqa: E402

SIGNED_ALGS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
_EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_GEN_KEY = {"rsa": ("RSA", 2048, "RS256"), "ec256": ("EC", "P-256", "ES256"),
            "ec384": ("EC", "P-384", "ES384"), "ec521": ("EC", "P-521", "ES512")}


class UsageError(Exception):
    """Bad combination of options; reported as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="token.py", description="Mint a JWT for qix-engine, or generate a signing key pair.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("Examples::", 1)[1],
    )
    parser.add_argument("--sub", help="user id (the sub claim, section access USERID)")
    parser.add_argument("--groups", help="comma-separated groups (the groups claim, section access GROUP)")
    exp = parser.add_mutually_exclusive_group()
    exp.add_argument("--exp-in", type=int, metavar="SECONDS", help="expire this many seconds from now")
    exp.add_argument("--exp", type=int, metavar="EPOCH", help="expire at this Unix time")
    parser.add_argument("--exp-string", action="store_true",
                        help='write exp as a string ("exp": "1541173994"), as in Qlik\'s documentation')
    parser.add_argument("--nbf-in", type=int, metavar="SECONDS", help="not valid before now + SECONDS")
    parser.add_argument("--aud", help="aud claim")
    parser.add_argument("--iss", help="iss claim")
    parser.add_argument("--alg", choices=(*SIGNED_ALGS, "none"),
                        help="signing algorithm (default: HS256 with --secret, RS256/ES* from --key)")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--secret", help="HMAC secret for HS* (the engine's JsonWebTokenSecret)")
    key.add_argument("--key", type=Path, metavar="PRIVATE_PEM", help="RSA or EC private key PEM for RS*/ES*")
    parser.add_argument("--kid", help="kid header (selects the key of a JWKS); with --gen-key, the key's kid")
    parser.add_argument("--claims", action="append", default=[], metavar="JSON_OBJECT",
                        help='extra claims as a JSON object, e.g. \'{"custom": {"country": "SE"}}\'; '
                             "repeatable, merged in order (nested objects merged key by key)")
    parser.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                        help="extra claim; VALUE is parsed as JSON when it is valid JSON, else kept as text; "
                             "a dotted NAME (custom.country=SE) sets a member of an object claim (use --claims for a "
                             "name that contains dots)")
    parser.add_argument("--gen-key", choices=sorted(_GEN_KEY), help="generate a key pair instead of a token")
    parser.add_argument("--out", type=Path, metavar="DIR", help="directory for --gen-key output")
    return parser


def build_claims(args: argparse.Namespace, now: float) -> dict[str, Any]:
    if not args.sub:
        raise UsageError("--sub is required")
    claims: dict[str, Any] = {"sub": args.sub}
    if args.groups is not None:
        claims["groups"] = [g.strip() for g in args.groups.split(",") if g.strip()]
    exp: int | None = None
    if args.exp_in is not None:
        exp = int(now) + args.exp_in
    elif args.exp is not None:
        exp = args.exp
    if args.exp_string and exp is None:
        raise UsageError("--exp-string needs --exp or --exp-in")
    if exp is not None:
        claims["exp"] = str(exp) if args.exp_string else exp
    if args.nbf_in is not None:
        claims["nbf"] = int(now) + args.nbf_in
    if args.aud is not None:
        claims["aud"] = args.aud
    if args.iss is not None:
        claims["iss"] = args.iss
    for text in args.claims:
        try:
            extra = json.loads(text)
        except ValueError as err:
            raise UsageError(f"--claims is not valid JSON: {err}") from None
        if not isinstance(extra, dict):
            raise UsageError(f"--claims expects a JSON object, got {text!r}")
        _merge(claims, extra)
    for item in args.claim:
        name, sep, raw = item.partition("=")
        if not sep or not name or "" in name.split("."):
            raise UsageError(f"--claim expects NAME=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        *parents, leaf = name.split(".")
        target = claims
        for part in parents:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"--claim {name}: {part!r} is already a claim that is not an object")
            target = child
        target[leaf] = value
    return claims


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge ``extra`` into ``into``: objects key by key, anything else replaced."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _load_private_key(path: Path) -> RSAKey | ECKey:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    for key_cls in (RSAKey, ECKey):
        try:
            key = key_cls.import_key(data)
        except (ValueError, TypeError, JoseError):
            continue
        if key.is_private:
            return key
        raise UsageError(f"{path} holds a public key; signing needs the private key")
    raise UsageError(f"{path} holds no RSA or EC private key")


def mint(args: argparse.Namespace, now: float | None = None) -> str:
    """The compact JWT the options describe."""
    claims = build_claims(args, time.time() if now is None else now)
    header: dict[str, Any] = {}
    if args.kid:
        header["kid"] = args.kid
    alg = args.alg
    key: OctKey | RSAKey | ECKey | None = None
    if alg == "none":
        if args.secret or args.key:
            raise UsageError("--alg none takes no --secret or --key")
    elif args.secret is not None:
        alg = alg or "HS256"
        if not alg.startswith("HS"):
            raise UsageError(f"--secret signs HS256/HS384/HS512, not {alg}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # short demo secrets such as "secret"
            key = OctKey.import_key(args.secret.encode("utf-8"))
    elif args.key is not None:
        key = _load_private_key(args.key)
        if alg is None:
            alg = "RS256" if isinstance(key, RSAKey) else _EC_ALG_BY_CURVE.get(key.curve_name, "ES256")
        expected = "RS" if isinstance(key, RSAKey) else "ES"
        if not alg.startswith(expected):
            raise UsageError(f"{alg} does not fit the {key.key_type} key in {args.key}")
    else:
        raise UsageError("give --secret, --key, or --alg none")
    header["alg"] = alg
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # alg none is deprecated, and that is the point
            return jwt.encode(header, claims, key, algorithms=[alg])
    except JoseError as err:
        raise UsageError(f"cannot sign with {alg}: {err.description or err.error}") from None


def generate_key(kind: str, out: Path, kid: str | None) -> list[Path]:
    """Write private.pem, public.pem and jwks.json for a new key into ``out``."""
    key_type, size_or_curve, alg = _GEN_KEY[kind]
    key: RSAKey | ECKey
    key = RSAKey.generate_key(size_or_curve) if key_type == "RSA" else ECKey.generate_key(size_or_curve)
    key_id = kid or key.thumbprint()
    out.mkdir(parents=True, exist_ok=True)
    private, public, jwks = out / "private.pem", out / "public.pem", out / "jwks.json"
    private.write_bytes(key.as_pem(private=True))
    private.chmod(0o600)
    public.write_bytes(key.as_pem(private=False))
    jwk = key.as_dict(private=False)
    jwk.update({"kid": key_id, "use": "sig", "alg": alg})
    jwks.write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    return [private, public, jwks]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.gen_key:
            if args.out is None:
                raise UsageError("--gen-key needs --out DIR")
            for path in generate_key(args.gen_key, args.out, args.kid):
                print(path)
            return 0
        print(mint(args))
        return 0
    except UsageError as err:
        print(f"token.py: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
