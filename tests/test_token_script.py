"""scripts/token.py: tokens it mints verify with the engine's Authenticator; keys it writes load as settings."""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from engine.auth import Authenticator, AuthError
from engine.settings import Settings
from tests.jwt_keys import CORECTL_SECRET, CORECTL_TOKEN, SECRET, bearer

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "token.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    # Loaded under another name: "token" would shadow the standard library module.
    spec = importlib.util.spec_from_file_location("qix_token_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script: ModuleType, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert script.main(list(argv)) == 0
    return capsys.readouterr().out.strip()


def fail(script: ModuleType, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert script.main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.strip()


def auth(**kw: object) -> Authenticator:
    return Authenticator(Settings(**kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def keydirs(script: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dirs = {}
    for kind in ("rsa", "ec256", "ec384", "ec521"):
        out = tmp_path_factory.mktemp(kind)
        script.generate_key(kind, out, f"{kind}-kid")
        dirs[kind] = out
    return dirs


def test_hs256_matches_the_corectl_token(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    token = run(script, capsys, "--sub", "folke", "--secret", CORECTL_SECRET)
    identity = auth(validate_json_web_tokens=2, json_web_token_secret=CORECTL_SECRET).authenticate(bearer(token))
    assert identity.user == "folke" and dict(identity.claims) == {"sub": "folke"}
    # Same claims and signature input as the token the real engine accepted (header key order aside).
    assert token.split(".")[1] == CORECTL_TOKEN.split(".")[1]


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hs_with_groups_exp_and_claims(script: ModuleType, capsys: pytest.CaptureFixture[str], alg: str) -> None:
    token = run(script, capsys, "--sub", "alice", "--groups", "Sales, EU", "--exp-in", "600", "--alg", alg,
                "--secret", SECRET, "--claim", "allowCreate=true", "--claim", 'custom={"country":"SE"}',
                "--claim", "role=admin", "--aud", "qix", "--iss", "me")
    identity = auth(validate_json_web_tokens=2, json_web_token_secret=SECRET, json_web_token_audience="qix",
                    json_web_token_issuer="me").authenticate(bearer(token))
    assert identity.user == "alice" and identity.groups == ("Sales", "EU")
    assert identity.claims["allowCreate"] is True
    assert identity.claims["custom"] == {"country": "SE"}
    assert identity.claims["role"] == "admin"
    assert 590 <= identity.claims["exp"] - time.time() <= 600


def test_exp_string_and_expired(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    checker = auth(validate_json_web_tokens=2, json_web_token_secret=SECRET)
    token = run(script, capsys, "--sub", "jdoe", "--exp-in", "60", "--exp-string", "--secret", SECRET)
    assert isinstance(checker.authenticate(bearer(token)).claims["exp"], str)
    old = run(script, capsys, "--sub", "jdoe", "--exp", "1541173994", "--exp-string", "--secret", SECRET)
    with pytest.raises(AuthError, match="token expired"):
        checker.authenticate(bearer(old))


def test_nbf(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    token = run(script, capsys, "--sub", "a", "--nbf-in", "300", "--secret", SECRET)
    with pytest.raises(AuthError, match="nbf"):
        auth(validate_json_web_tokens=2, json_web_token_secret=SECRET).authenticate(bearer(token))


@pytest.mark.parametrize("kind,alg", [("rsa", "RS256"), ("rsa", "RS384"), ("rsa", "RS512"), ("ec256", "ES256"),
                                      ("ec384", "ES384"), ("ec521", "ES512")])
def test_asymmetric_with_pem_and_jwks(script: ModuleType, capsys: pytest.CaptureFixture[str],
                                      keydirs: dict[str, Path], kind: str, alg: str) -> None:
    d = keydirs[kind]
    token = run(script, capsys, "--sub", "bob", "--key", str(d / "private.pem"), "--alg", alg, "--exp-in", "60")
    assert auth(validate_json_web_tokens=2, json_web_token_path=d / "public.pem").authenticate(bearer(token)).user \
        == "bob"
    jwks = json.loads((d / "jwks.json").read_text())
    assert [k["kid"] for k in jwks["keys"]] == [f"{kind}-kid"]
    assert "d" not in jwks["keys"][0]  # public only
    with_kid = run(script, capsys, "--sub", "bob", "--key", str(d / "private.pem"), "--kid", f"{kind}-kid")
    checker = auth(validate_json_web_tokens=2, json_web_token_jwks_path=d / "jwks.json")
    assert checker.authenticate(bearer(with_kid)).user == "bob"  # default alg = the JWK's alg
    wrong_kid = run(script, capsys, "--sub", "bob", "--key", str(d / "private.pem"), "--kid", "other")
    with pytest.raises(AuthError, match="unknown key id"):
        checker.authenticate(bearer(wrong_kid))


def test_default_alg_follows_the_key(script: ModuleType, capsys: pytest.CaptureFixture[str],
                                     keydirs: dict[str, Path]) -> None:
    for kind, alg in (("rsa", "RS256"), ("ec384", "ES384"), ("ec521", "ES512")):
        token = run(script, capsys, "--sub", "a", "--key", str(keydirs[kind] / "private.pem"))
        header = json.loads(_b64decode(token.split(".")[0]))
        assert header["alg"] == alg


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_unsigned(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    token = run(script, capsys, "--sub", "eve", "--alg", "none")
    assert token.endswith(".")
    assert auth(validate_json_web_tokens=1, json_web_token_secret=SECRET).authenticate(bearer(token)).user == "eve"
    with pytest.raises(AuthError, match="unsigned"):
        auth(validate_json_web_tokens=2, json_web_token_secret=SECRET).authenticate(bearer(token))


def test_usage_errors(script: ModuleType, capsys: pytest.CaptureFixture[str], keydirs: dict[str, Path],
                      tmp_path: Path) -> None:
    assert "--sub is required" in fail(script, capsys, "--secret", SECRET)
    assert "give --secret, --key" in fail(script, capsys, "--sub", "a")
    assert "not RS256" in fail(script, capsys, "--sub", "a", "--secret", SECRET, "--alg", "RS256")
    assert "does not fit" in fail(script, capsys, "--sub", "a", "--key", str(keydirs["rsa"] / "private.pem"),
                                  "--alg", "ES256")
    assert "only 'P-256'" in fail(script, capsys, "--sub", "a", "--key", str(keydirs["ec384"] / "private.pem"),
                                  "--alg", "ES256")
    assert "public key" in fail(script, capsys, "--sub", "a", "--key", str(keydirs["rsa"] / "public.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("junk")
    assert "no RSA or EC private key" in fail(script, capsys, "--sub", "a", "--key", str(junk))
    assert "cannot read" in fail(script, capsys, "--sub", "a", "--key", str(tmp_path / "missing.pem"))
    assert "--exp-string needs" in fail(script, capsys, "--sub", "a", "--secret", SECRET, "--exp-string")
    assert "NAME=VALUE" in fail(script, capsys, "--sub", "a", "--secret", SECRET, "--claim", "novalue")
    assert "--out" in fail(script, capsys, "--gen-key", "rsa")


def test_gen_key_files(script: ModuleType, keydirs: dict[str, Path]) -> None:
    d = keydirs["ec256"]
    assert (d / "private.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (d / "public.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert (d / "private.pem").stat().st_mode & 0o077 == 0
    jwk = json.loads((d / "jwks.json").read_text())["keys"][0]
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("EC", "P-256", "sig", "ES256")


def test_runs_as_a_script(tmp_path: Path) -> None:
    """``python scripts/token.py`` works despite the file name shadowing the stdlib ``token`` module."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--sub", "folke", "--secret", CORECTL_SECRET],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert auth(validate_json_web_tokens=2, json_web_token_secret=CORECTL_SECRET).authenticate(bearer(token)).user \
        == "folke"
    bad = subprocess.run([sys.executable, str(SCRIPT), "--sub", "a"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == "token.py: give --secret, --key, or --alg none"


def test_arbitrary_claims_for_access_rules(script: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    """--claims objects merge in order, --claim NAME=VALUE (dotted for members) comes last; the engine
    sees every claim, nested objects and arrays included, as access-control rules read them."""
    from engine.app.abac import Policy, user_claims
    from engine.app.rules import Resource

    token = run(script, capsys, "--sub", "ada", "--secret", SECRET,
                "--claims", '{"roles": ["developer"], "custom": {"country": "SE", "team": "a"}}',
                "--claims", '{"custom": {"team": "b"}, "level": 3}',
                "--claim", "custom.region=north", "--claim", "allowCreate=true", "--claim", "https://x/y=1")
    identity = auth(validate_json_web_tokens=2, json_web_token_secret=SECRET).authenticate(bearer(token))
    assert dict(identity.claims) == {"sub": "ada", "roles": ["developer"], "level": 3, "allowCreate": True,
                                     "custom": {"country": "SE", "team": "b", "region": "north"},
                                     "https://x/y": 1}
    policy = Policy.from_text(
        'user.custom.country = "se" and user.roles = {"admin", "developer"} and user.allowCreate '
        'and user.level = 3 and user.custom.region == "north" and resource._actions = {"create"}')
    decision = policy.decide(user_claims(identity.user, identity.claims), Resource.for_app("a1"), "create")
    assert decision.allowed


@pytest.mark.parametrize("argv,needle", [
    (["--claims", "{not json"], "--claims is not valid JSON"),
    (["--claims", "[1, 2]"], "--claims expects a JSON object"),
    (["--claim", "custom..x=1"], "NAME=VALUE"),
    (["--claim", "=1"], "NAME=VALUE"),
    (["--claim", "role=admin", "--claim", "role.name=x"], "'role' is already a claim that is not an object"),
])
def test_claims_usage_errors(script: ModuleType, capsys: pytest.CaptureFixture[str], argv: list[str],
                             needle: str) -> None:
    assert needle in fail(script, capsys, "--sub", "a", "--secret", SECRET, *argv)
