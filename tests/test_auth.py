"""The JWT matrix at the Authenticator level: levels 0/1/2 x HS*/RS*/ES* x the ways a token goes wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.auth import PERSONAL_USER, Authenticator, AuthError, Identity
from engine.settings import Settings, SettingsError
from tests.jwt_keys import (
    CORECTL_SECRET,
    CORECTL_TOKEN,
    OTHER_SECRET,
    SECRET,
    KeyFiles,
    KeyPair,
    b64json,
    b64url,
    bearer,
    confusion_token,
    ec_key,
    ec_key_for,
    ed25519_key,
    expired,
    mint,
    rsa_key,
    unsigned,
    valid_for,
)

NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    return KeyFiles.create(tmp_path_factory.mktemp("jwt"))


def make(level: int = 2, clock: float | None = None, **settings_kw: object) -> Authenticator:
    kw = {} if clock is None else {"clock": lambda: clock}
    return Authenticator(Settings(validate_json_web_tokens=level, **settings_kw), **kw)  # type: ignore[arg-type]


def rejected(auth: Authenticator, header: str | None) -> str:
    with pytest.raises(AuthError) as info:
        auth.authenticate(header)
    return info.value.reason


# -- level 0 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Basic Zm9vOmJhcg==", "Bearer garbage", bearer(CORECTL_TOKEN)])
def test_level0_ignores_header(header: str | None) -> None:
    identity = make(0).authenticate(header)
    assert identity == Identity.personal()
    assert identity.user == PERSONAL_USER == "Personal\\Me"
    assert identity.groups == ()
    assert identity.authenticated is False
    assert dict(identity.claims) == {}


def test_level0_does_not_load_keys(keys: KeyFiles) -> None:
    # A broken key file matters only when tokens are validated.
    auth = make(0, json_web_token_path=keys.not_a_key_pem)
    assert auth.authenticate(None).user == PERSONAL_USER


# -- the real engine's fixture ----------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
def test_corectl_token_accepted(level: int) -> None:
    identity = make(level, json_web_token_secret=CORECTL_SECRET).authenticate(bearer(CORECTL_TOKEN))
    assert identity.user == "folke"
    assert identity.authenticated is True
    assert dict(identity.claims) == {"sub": "folke"}


def test_corectl_token_wrong_secret() -> None:
    assert rejected(make(2, json_web_token_secret="passw0rd!"), bearer(CORECTL_TOKEN)) == "bad signature"


# -- HMAC --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hs_valid_and_wrong_key(level: int, alg: str) -> None:
    auth = make(level, json_web_token_secret=SECRET)
    identity = auth.authenticate(bearer(mint(valid_for("alice", groups=["g1", "g2"]), alg, SECRET)))
    assert (identity.user, identity.groups) == ("alice", ("g1", "g2"))
    assert rejected(auth, bearer(mint(valid_for("alice"), alg, OTHER_SECRET))) == "bad signature"


def test_hs_without_secret_configured(keys: KeyFiles) -> None:
    auth = make(2, json_web_token_path=keys.rsa_public_pem)
    reason = rejected(auth, bearer(mint({"sub": "a"}, "HS256", SECRET)))
    assert reason == "no key configured for the token's algorithm"


# -- RSA ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
@pytest.mark.parametrize("pem", ["rsa_public_pem", "rsa_cert_pem", "rsa_private_pem"])
def test_rs_valid_with_pem_cert_or_private(keys: KeyFiles, level: int, alg: str, pem: str) -> None:
    auth = make(level, json_web_token_path=getattr(keys, pem))
    assert auth.authenticate(bearer(mint(valid_for("bob"), alg, keys.rsa))).user == "bob"


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_rs_wrong_key(keys: KeyFiles, alg: str) -> None:
    auth = make(2, json_web_token_path=keys.rsa_public_pem)
    assert rejected(auth, bearer(mint(valid_for(), alg, rsa_key(index=1)))) == "bad signature"


def test_rs_token_with_only_secret() -> None:
    auth = make(2, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", rsa_key()))) == "no key configured for the token's algorithm"


@pytest.mark.parametrize("alg,key", [("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"), ("EdDSA", "ed")])
def test_ps_and_eddsa_rejected(keys: KeyFiles, alg: str, key: str) -> None:
    pair = keys.rsa if key == "rsa" else ed25519_key()
    auth = make(1, json_web_token_path=keys.rsa_public_pem, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint({"sub": "a"}, alg, pair))) == "algorithm not accepted"


# -- EC ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("alg,pem", [("ES256", "ec256_public_pem"), ("ES384", "ec384_public_pem"),
                                     ("ES512", "ec521_public_pem"), ("ES256", "ec256_cert_pem")])
def test_es_valid(keys: KeyFiles, level: int, alg: str, pem: str) -> None:
    auth = make(level, json_web_token_path=getattr(keys, pem))
    assert auth.authenticate(bearer(mint(valid_for("carol"), alg, ec_key_for(alg)))).user == "carol"


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_es_wrong_key(keys: KeyFiles, alg: str) -> None:
    pem = {"ES256": keys.ec256_public_pem, "ES384": keys.ec384_public_pem, "ES512": keys.ec521_public_pem}[alg]
    auth = make(2, json_web_token_path=pem)
    assert rejected(auth, bearer(mint(valid_for(), alg, ec_key_for(alg, index=1)))) == "bad signature"


def test_es_alg_must_fit_curve(keys: KeyFiles) -> None:
    # Server holds a P-256 key; a token claiming ES384 (signed with P-384) cannot be checked with it.
    auth = make(2, json_web_token_path=keys.ec256_public_pem)
    assert rejected(auth, bearer(mint({"sub": "a"}, "ES384", ec_key("P-384")))) == "algorithm does not fit the key"
    # ... and ES512 over a P-256 signature is just as wrong.
    assert rejected(auth, bearer(mint({"sub": "a"}, "ES512", ec_key("P-521")))) == "algorithm does not fit the key"


def test_rs_token_against_ec_pem(keys: KeyFiles) -> None:
    auth = make(2, json_web_token_path=keys.ec256_public_pem)
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", keys.rsa))) == "no key configured for the token's algorithm"


# -- expiry, string exp, leeway, nbf -----------------------------------------------------------------


@pytest.mark.parametrize("as_string", [False, True])
def test_exp_number_or_numeric_string(as_string: bool) -> None:
    auth = make(2, json_web_token_secret=SECRET)
    assert auth.authenticate(bearer(mint(valid_for("dan", as_string=as_string)))).user == "dan"
    assert rejected(auth, bearer(mint(expired("dan", as_string=as_string)))) == "token expired"


def test_doc_example_string_exp_is_in_the_past() -> None:
    # Qlik's authorization tutorial: {"sub": "jdoe", "exp": "1541173994"} (November 2018).
    auth = make(2, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint({"sub": "jdoe", "exp": "1541173994"}))) == "token expired"
    before = make(2, clock=1541173993.0, json_web_token_secret=SECRET)
    assert before.authenticate(bearer(mint({"sub": "jdoe", "exp": "1541173994"}))).user == "jdoe"


def test_exp_boundary_is_exclusive() -> None:
    auth = make(2, clock=NOW, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint({"sub": "a", "exp": NOW}))) == "token expired"
    assert auth.authenticate(bearer(mint({"sub": "a", "exp": NOW + 0.5}))).user == "a"


def test_no_exp_never_expires() -> None:
    assert make(2, json_web_token_secret=SECRET).authenticate(bearer(mint({"sub": "a"}))).user == "a"


@pytest.mark.parametrize("exp", [True, "soon", "1e10", "", None, [1], {"t": 1}, " 123"])
def test_exp_not_a_number(exp: object) -> None:
    auth = make(2, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint({"sub": "a", "exp": exp}))) == "exp claim is not a number"


def test_leeway() -> None:
    claims = {"sub": "a", "exp": NOW - 10}
    assert rejected(make(2, clock=NOW, json_web_token_secret=SECRET), bearer(mint(claims))) == "token expired"
    lenient = make(2, clock=NOW, json_web_token_secret=SECRET, json_web_token_leeway=30.0)
    assert lenient.authenticate(bearer(mint(claims))).user == "a"
    assert rejected(lenient, bearer(mint({"sub": "a", "exp": NOW - 31}))) == "token expired"


def test_nbf() -> None:
    strict = make(2, clock=NOW, json_web_token_secret=SECRET)
    assert rejected(strict, bearer(mint({"sub": "a", "nbf": NOW + 10}))) == "token not yet valid (nbf)"
    assert strict.authenticate(bearer(mint({"sub": "a", "nbf": str(int(NOW) - 10)}))).user == "a"
    lenient = make(2, clock=NOW, json_web_token_secret=SECRET, json_web_token_leeway=30.0)
    assert lenient.authenticate(bearer(mint({"sub": "a", "nbf": NOW + 10}))).user == "a"
    assert rejected(strict, bearer(mint({"sub": "a", "nbf": "tomorrow"}))) == "nbf claim is not a number"


def test_cached_token_still_expires() -> None:
    now = [NOW]
    auth = Authenticator(Settings(validate_json_web_tokens=2, json_web_token_secret=SECRET), clock=lambda: now[0])
    token = bearer(mint({"sub": "a", "exp": NOW + 60}))
    assert auth.authenticate(token).user == "a"
    assert auth.authenticate(token) is auth.authenticate(token)  # served from the cache
    now[0] = NOW + 61
    assert rejected(auth, token) == "token expired"


# -- alg none ----------------------------------------------------------------------------------------


def test_unsigned_level1_accepted_level2_rejected(keys: KeyFiles) -> None:
    token = bearer(unsigned(valid_for("eve", groups=["x"])))
    identity = make(1, json_web_token_secret=SECRET).authenticate(token)
    assert (identity.user, identity.groups, identity.authenticated) == ("eve", ("x",), True)
    for kw in ({"json_web_token_secret": SECRET}, {"json_web_token_path": keys.rsa_public_pem}):
        assert rejected(make(2, **kw), token) == "unsigned token not accepted (ValidateJsonWebTokens=2)"


def test_unsigned_docs_example_header() -> None:
    token = f"{b64json({'typ': 'JWT', 'alg': 'none'})}.{b64json({'sub': 'jdoe'})}."
    assert make(1, json_web_token_secret=SECRET).authenticate(bearer(token)).user == "jdoe"


def test_unsigned_claims_still_checked() -> None:
    auth = make(1, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(unsigned(expired()))) == "token expired"
    assert rejected(auth, bearer(unsigned({"name": "x"}))) == "sub claim missing or not a non-empty string"


def test_unsigned_with_signature_rejected() -> None:
    token = unsigned({"sub": "a"}) + b64url(b"sig")
    assert rejected(make(1, json_web_token_secret=SECRET), bearer(token)) == "unsigned token must have an empty signature"


def test_level1_signed_token_must_verify() -> None:
    # Level 1 relaxes "must be signed", not "the signature must be valid".
    auth = make(1, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint({"sub": "a"}, "HS256", OTHER_SECRET))) == "bad signature"
    stripped = mint({"sub": "a"}, "HS256", SECRET).rsplit(".", 1)[0] + "."
    assert rejected(auth, bearer(stripped)) == "bad signature"


def test_unsigned_unknown_crit_rejected() -> None:
    token = unsigned({"sub": "a"}, header={"crit": ["x-unknown"], "x-unknown": 1})
    assert rejected(make(1, json_web_token_secret=SECRET), bearer(token)).startswith("token rejected")


# -- sub ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": "   "}, {"sub": 123}, {"sub": None},
                                    {"sub": ["a"]}, {"sub": {"id": "a"}}, {"user": "a"}])
def test_sub_required_non_empty_string(claims: dict) -> None:
    auth = make(2, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint(claims))) == "sub claim missing or not a non-empty string"


# -- groups, claims ----------------------------------------------------------------------------------


@pytest.mark.parametrize("groups", ["admins", [1, 2], ["a", None], None, {"a": 1}, [["a"]]])
def test_groups_must_be_array_of_strings(groups: object) -> None:
    auth = make(2, json_web_token_secret=SECRET)
    assert rejected(auth, bearer(mint({"sub": "a", "groups": groups}))) == "groups claim must be an array of strings"


def test_groups_and_other_claims_kept() -> None:
    claims = {"sub": "Frank", "groups": ["Sales", "EU"], "custom": {"country": "SE"}, "allowCreate": True}
    identity = make(2, json_web_token_secret=SECRET).authenticate(bearer(mint(claims)))
    assert identity.user == "Frank"  # case kept: section access upper-cases on its side
    assert identity.groups == ("Sales", "EU")
    assert identity.claims["custom"] == {"country": "SE"}
    assert identity.claims["allowCreate"] is True
    with pytest.raises(TypeError):
        identity.claims["sub"] = "root"  # type: ignore[index]
    assert make(2, json_web_token_secret=SECRET).authenticate(bearer(mint({"sub": "x", "groups": []}))).groups == ()


def test_identity_copies_claims() -> None:
    source = {"sub": "a"}
    identity = Identity(user="a", claims=source, authenticated=True)
    source["sub"] = "b"
    assert identity.claims["sub"] == "a"
    assert hash(identity) == hash(Identity(user="a", claims={"sub": "zzz"}, authenticated=True))


# -- audience / issuer ------------------------------------------------------------------------------


def test_audience_checked_only_when_set() -> None:
    assert make(2, json_web_token_secret=SECRET).authenticate(bearer(mint({"sub": "a", "aud": "x"}))).user == "a"
    auth = make(2, json_web_token_secret=SECRET, json_web_token_audience="qix")
    assert auth.authenticate(bearer(mint({"sub": "a", "aud": "qix"}))).user == "a"
    assert auth.authenticate(bearer(mint({"sub": "a", "aud": ["other", "qix"]}))).user == "a"
    for aud in ("other", ["other"], None):
        claims = {"sub": "a"} if aud is None else {"sub": "a", "aud": aud}
        assert rejected(auth, bearer(mint(claims))) == "aud claim does not match JsonWebTokenAudience"


def test_issuer_checked_only_when_set() -> None:
    assert make(2, json_web_token_secret=SECRET).authenticate(bearer(mint({"sub": "a", "iss": "x"}))).user == "a"
    auth = make(2, json_web_token_secret=SECRET, json_web_token_issuer="https://idp")
    assert auth.authenticate(bearer(mint({"sub": "a", "iss": "https://idp"}))).user == "a"
    for claims in ({"sub": "a"}, {"sub": "a", "iss": "https://evil"}, {"sub": "a", "iss": ["https://idp"]}):
        assert rejected(auth, bearer(mint(claims))) == "iss claim does not match JsonWebTokenIssuer"


# -- Authorization header ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
def test_missing_header_and_wrong_scheme(level: int) -> None:
    auth = make(level, json_web_token_secret=SECRET)
    token = mint({"sub": "a"})
    assert rejected(auth, None) == "missing Authorization header"
    assert rejected(auth, token) == "Authorization scheme must be Bearer"
    assert rejected(auth, f"Basic {token}") == "Authorization scheme must be Bearer"
    assert rejected(auth, f"Token {token}") == "Authorization scheme must be Bearer"
    assert rejected(auth, "Bearer") == "empty bearer token"
    assert rejected(auth, "Bearer    ") == "empty bearer token"
    assert rejected(auth, "") == "Authorization scheme must be Bearer"
    assert rejected(auth, "Bearertoken") == "Authorization scheme must be Bearer"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_case_insensitive(scheme: str) -> None:
    auth = make(2, json_web_token_secret=SECRET)
    assert auth.authenticate(f"{scheme} {mint({'sub': 'a'})}").user == "a"
    assert auth.authenticate(f"  {scheme}   {mint({'sub': 'b'})}  ").user == "b"
    assert auth.authenticate(f"{scheme}\t{mint({'sub': 'c'})}").user == "c"


# -- malformed ---------------------------------------------------------------------------------------


def _malformed_tokens() -> list[str]:
    good = mint({"sub": "a"})
    h, p, s = good.split(".")
    return [
        "a.b",
        "abc",
        ".",
        "..",
        f"{h}.{p}",
        f"{h}.{p}.{s}.{s}",
        f"!!!.{p}.{s}",
        f"{h}.!!!.{s}",
        f"{h}.{p}.!!!",
        f"{b64url(b'not json')}.{p}.{s}",
        f"{b64json(['alg'])}.{p}.{s}",
        f"{b64json({'typ': 'JWT'})}.{p}.{s}",
        f"{b64json({'alg': 256})}.{p}.{s}",
        f"{b64json({'alg': ['HS256']})}.{p}.{s}",
        f"{h}.{b64url(b'not json')}.{s}",
        f"{h}.{b64json(['sub', 'a'])}.{s}",
        f"{h}.{b64json('a')}.{s}",
        f"{h}.{p}.{s}" + "A" * 20000,
        f"{h}.{'A' * 200000}.{s}",
        f"{h}.{p}.{s}\u00e9",
        "\u00e9.\u00e9.\u00e9",
        f"{b64json({'alg': 'HS256', 'b64': False, 'crit': ['b64']})}.{p}.{s}",
        f"{b64json({'alg': 'HS256', 'pad': 'x' * 600})}.{p}.{s}",
    ]


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("token", _malformed_tokens())
def test_malformed_tokens_raise_auth_error(keys: KeyFiles, level: int, token: str) -> None:
    auth = make(level, json_web_token_secret=SECRET, json_web_token_path=keys.rsa_public_pem,
                json_web_token_jwks_path=keys.jwks)
    with pytest.raises(AuthError):
        auth.authenticate(bearer(token))


def test_unsigned_payload_is_json_object_only() -> None:
    auth = make(1, json_web_token_secret=SECRET)
    token = f"{b64json({'alg': 'none'})}.{b64json([1, 2])}."
    assert rejected(auth, bearer(token)) == "malformed token payload: not a JSON object"
    nan_payload = b64url(b'{"sub": NaN}')
    token = f"{b64json({'alg': 'none'})}.{nan_payload}."
    assert rejected(auth, bearer(token)) == "malformed token payload"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_header_only_auth_error(text: str) -> None:
    auth = _FUZZ_AUTH
    try:
        identity = auth.authenticate(text)
    except AuthError as err:
        assert isinstance(err.reason, str) and err.reason
    else:  # pragma: no cover - astronomically unlikely
        assert identity.authenticated


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.", max_size=80),
                min_size=1, max_size=5))
def test_fuzz_segments_only_auth_error(parts: list[str]) -> None:
    with pytest.raises(AuthError):
        _FUZZ_AUTH.authenticate("Bearer " + ".".join(parts))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200), st.booleans())
def test_fuzz_json_segments_only_auth_error(header: bytes, payload: bytes, signed: bool) -> None:
    token = f"{b64url(header)}.{b64url(payload)}.{b64url(b'x' * 32) if signed else ''}"
    with pytest.raises(AuthError):
        _FUZZ_AUTH.authenticate("Bearer " + token)


_FUZZ_AUTH = Authenticator(Settings(validate_json_web_tokens=1, json_web_token_secret=SECRET))


# -- algorithm confusion ------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("pem_attr", ["rsa_public_pem", "rsa_cert_pem", "ec256_public_pem"])
@pytest.mark.parametrize("with_secret", [False, True])
def test_algorithm_confusion(keys: KeyFiles, level: int, pem_attr: str, with_secret: bool) -> None:
    pem_path: Path = getattr(keys, pem_attr)
    kw: dict = {"json_web_token_path": pem_path}
    if with_secret:
        kw["json_web_token_secret"] = SECRET
    auth = make(level, **kw)
    for alg in ("HS256", "HS384", "HS512"):
        reason = rejected(auth, bearer(confusion_token(pem_path.read_bytes(), {"sub": "admin"}, alg)))
        assert reason == ("bad signature" if with_secret else "no key configured for the token's algorithm")


def test_secret_that_is_a_public_key_is_refused(keys: KeyFiles) -> None:
    with pytest.raises(SettingsError) as info:
        make(2, json_web_token_secret=keys.rsa_public_pem.read_text())
    assert info.value.setting == "JsonWebTokenSecret"


# -- JWKS --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kid,alg", [("rsa-1", "RS256"), ("rsa-1", "RS512"), ("ec256-1", "ES256"),
                                     ("ec384-1", "ES384"), ("ec521-1", "ES512"), ("hs-1", "HS256")])
def test_jwks_kid_hit(keys: KeyFiles, kid: str, alg: str) -> None:
    auth = make(2, json_web_token_jwks_path=keys.jwks)
    key = {"RS": keys.rsa, "HS": KeyFiles.JWKS_OCT_SECRET}.get(alg[:2]) or ec_key_for(alg)
    assert auth.authenticate(bearer(mint(valid_for("gus"), alg, key, kid=kid))).user == "gus"


def test_jwks_kid_miss_and_mismatch(keys: KeyFiles) -> None:
    auth = make(2, json_web_token_jwks_path=keys.jwks, json_web_token_path=keys.rsa_public_pem)
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", keys.rsa, kid="nope"))) == "unknown key id"
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", keys.rsa, kid=7))) == "token rejected (invalid_header_value)"
    # ed-1 is in the file but EdDSA keys are skipped at load time.
    assert rejected(auth, bearer(mint({"sub": "a"}, "EdDSA", ed25519_key(), kid="ed-1"))) == "algorithm not accepted"
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", keys.rsa, kid="ed-1"))) == "unknown key id"
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", keys.rsa, kid="ec256-1"))) == \
        "algorithm does not fit the key"
    assert rejected(auth, bearer(mint({"sub": "a"}, "ES384", ec_key("P-384"), kid="ec256-1"))) == \
        "algorithm does not fit the key"
    # Right kid, key of another holder.
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", rsa_key(index=1), kid="rsa-1"))) == "bad signature"


def test_jwks_without_kid(keys: KeyFiles, tmp_path: Path) -> None:
    # One key fits the alg: it is used. Several fit: the token must say which.
    auth = make(2, json_web_token_jwks_path=keys.jwks)
    assert auth.authenticate(bearer(mint({"sub": "a"}, "ES384", ec_key("P-384")))).user == "a"
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"keys": [rsa_key().public_jwk("a"), rsa_key(index=1).public_jwk("b")]}))
    auth2 = make(2, json_web_token_jwks_path=two)
    assert rejected(auth2, bearer(mint({"sub": "a"}, "RS256", rsa_key()))) == "token has no key id (kid)"
    assert auth2.authenticate(bearer(mint({"sub": "a"}, "RS256", rsa_key(index=1), kid="b"))).user == "a"


def test_jwks_key_alg_and_use_respected(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key().public_jwk("r", alg="RS512"),
                                         rsa_key(index=1).public_jwk("e", use="enc")]}))
    auth = make(2, json_web_token_jwks_path=path)
    assert auth.authenticate(bearer(mint({"sub": "a"}, "RS512", rsa_key(), kid="r"))).user == "a"
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", rsa_key(), kid="r"))) == "algorithm does not fit the key"
    assert rejected(auth, bearer(mint({"sub": "a"}, "RS256", rsa_key(index=1), kid="e"))) == "unknown key id"


def test_kid_ignored_without_jwks(keys: KeyFiles) -> None:
    auth = make(2, json_web_token_path=keys.rsa_public_pem, json_web_token_secret=SECRET)
    assert auth.authenticate(bearer(mint({"sub": "a"}, "RS256", keys.rsa, kid="whatever"))).user == "a"
    assert auth.authenticate(bearer(mint({"sub": "b"}, "HS256", SECRET, kid="x"))).user == "b"


# -- key material errors at construction ---------------------------------------------------------------


def _settings_error(**kw: object) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        make(2, **kw)
    return info.value


def test_bad_pem_files(keys: KeyFiles, tmp_path: Path) -> None:
    err = _settings_error(json_web_token_path=tmp_path / "missing.pem")
    assert err.setting == "JsonWebTokenPath" and "cannot read" in err.problem
    err = _settings_error(json_web_token_path=keys.not_a_key_pem)
    assert err.setting == "JsonWebTokenPath" and "no PEM public key" in err.problem
    err = _settings_error(json_web_token_path=keys.jwks)
    assert err.setting == "JsonWebTokenPath"
    err = _settings_error(json_web_token_path=keys.ed25519_public_pem)
    assert err.setting == "JsonWebTokenPath" and "not supported" in err.problem
    k1 = tmp_path / "k1.pem"
    k1.write_bytes(KeyPair(ec.generate_private_key(ec.SECP256K1())).public_pem())
    err = _settings_error(json_web_token_path=k1)
    assert err.setting == "JsonWebTokenPath" and "secp256k1" in err.problem
    err = _settings_error(json_web_token_path=tmp_path)  # a directory
    assert err.setting == "JsonWebTokenPath"


@pytest.mark.parametrize("content,needle", [
    ("not json", "not valid JSON"),
    ("[]", "not a JWKS"),
    ('{"keys": {}}', "not a JWKS"),
    ('{"keys": []}', "no RSA, EC or oct"),
    ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}', "no RSA, EC or oct"),
    ('{"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}', "bad key"),
    ('{"keys": [{"kty": "EC", "crv": "P-256"}]}', "bad key"),
])
def test_bad_jwks(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    err = _settings_error(json_web_token_jwks_path=path)
    assert err.setting == "JsonWebTokenJwksPath"
    assert needle in err.problem


def test_jwks_duplicate_kid(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key().public_jwk("k"), ec_key().public_jwk("k")]}))
    assert "duplicate kid" in _settings_error(json_web_token_jwks_path=path).problem


def test_enforced_without_any_key() -> None:
    for level in (1, 2):
        with pytest.raises(SettingsError) as info:
            make(level)
        assert info.value.setting == "ValidateJsonWebTokens"


def test_short_secret_warns_but_works() -> None:
    auth = make(2, json_web_token_secret="secret")
    assert auth.config_warnings and "shorter than 14 bytes" in auth.config_warnings[0]
    assert auth.authenticate(bearer(mint({"sub": "a"}, "HS256", "secret"))).user == "a"
    assert make(2, json_web_token_secret=SECRET).config_warnings == ()


# -- reasons never leak ----------------------------------------------------------------------------------


def test_reasons_never_contain_token_or_secret(keys: KeyFiles) -> None:
    auth = make(1, json_web_token_secret=SECRET, json_web_token_path=keys.rsa_public_pem,
                json_web_token_jwks_path=keys.jwks)
    tokens = _malformed_tokens() + [
        mint({"sub": "a"}, "HS256", OTHER_SECRET),
        mint(expired()),
        mint({"sub": "a"}, "RS256", keys.rsa, kid="secret-kid-value"),
        unsigned({"sub": "a"}, header={"crit": ["x-secret-crit"], "x-secret-crit": 1}),
        mint({"sub": "a"}, "PS256", keys.rsa),
    ]
    for token in tokens:
        with pytest.raises(AuthError) as info:
            auth.authenticate(bearer(token))
        reason = str(info.value)
        assert len(reason) < 100
        assert SECRET not in reason
        assert "secret-kid-value" not in reason and "x-secret-crit" not in reason
        for segment in token.split("."):
            assert len(segment) < 8 or segment not in reason
