"""ABAC policy: deny-first and accumulating decisions, rule files and settings, the permissions table.

The qlik-oss/core-authorization example (two engines, five kinds of users) is replayed through
``decide()`` and the permissions table: each step of its test becomes the checks our table names for
the QIX call it makes.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import engine
from engine import cli
from engine.app import permissions
from engine.app.abac import (
    PERSONAL_USER,
    Policy,
    RuleFileError,
    RuleFiles,
    RuleRef,
    privilege_names,
    user_claims,
)
from engine.app.permissions import QIX, Permission, Source, Unclassified, for_endpoint, for_method
from engine.app.rules import ACTIONS, APP, APP_OBJECT, Resource
from engine.errors import ACCESS_DENIED
from engine.settings import SPECS, Settings, SettingsError, parse_args

WORKTREE = Path(__file__).resolve().parents[2]

APP1 = Resource.for_app("app-1", "Sales", "ada")
SHEET = Resource.for_object(APP1, "sheet-1", "sheet", owner="ada")
ADA = {"sub": "ada", "roles": ["admin"], "country": "uk"}
BOB = {"sub": "bob", "roles": ["viewer"], "country": "se"}


def allowed(policy: Policy, claims: Mapping[str, Any], resource: Resource = APP1) -> set[str]:
    return set(policy.allowed_actions(claims, resource))


# --------------------------------------------------------------------------------------------------------
# decisions
# --------------------------------------------------------------------------------------------------------


def test_nothing_granted_means_everything_denied() -> None:
    for policy in (Policy(), Policy.from_text("# only comments\n\n", "")):
        for action in ACTIONS:
            decision = policy.decide(ADA, APP1, action)
            assert not decision and decision.actions == frozenset() and decision.denied_by is None
    assert not Policy.from_text('user.roles = "nobody" and resource._actions = "*"').decide(ADA, APP1, "read")


def test_allow_rules_accumulate() -> None:
    policy = Policy.from_text(
        'user.country = "uk" and resource._actions = {"read", "update"}\n'
        'user.roles = {"admin"} and resource._actions = {"create"}\n'
        'user.roles = "viewer" and resource._actions = "read"\n')
    assert allowed(policy, ADA) == {"read", "update", "create"}
    assert allowed(policy, BOB) == {"read"}
    assert policy.decide(ADA, APP1, "create") and not policy.decide(BOB, APP1, "update")


def test_wildcard_grants_every_action() -> None:
    policy = Policy.from_text('resource._actions = "*"\nresource._actions = {"publish"}')
    assert allowed(policy, BOB) == set(ACTIONS) | {"publish"}
    assert policy.decide(BOB, APP1, "export data") and policy.decide(BOB, APP1, "exportdata")
    assert policy.decide(BOB, APP1, "approve")  # "*" allows an action the engine does not list, too


def test_deny_rules_come_first_and_the_first_true_one_ends_them() -> None:
    allow = 'resource._actions = "*"'
    deny = ('user.country = "se" and resource._actions = "delete"\n'
            'user.roles = "viewer" and resource._actions = {"update", "reload"}\n'
            'user.roles = "admin" and resource._actions = "export"\n')
    policy = Policy.from_text(allow, deny)
    # bob matches deny rules 1 and 2: only the first counts
    assert allowed(policy, BOB) == set(ACTIONS) - {"delete"}
    decision = policy.decide(BOB, APP1, "delete")
    assert not decision and decision.denied_by == RuleRef("deny", 1, 'user.country = "se" and '
                                                                   'resource._actions = "delete"')
    assert policy.decide(BOB, APP1, "update").denied_by is None
    assert allowed(policy, ADA) == set(ACTIONS) - {"export"}
    everything = Policy.from_text(allow, 'resource._actions = "*"')
    assert allowed(everything, ADA) == set() and everything.decide(ADA, APP1, "read").denied_by is not None


def test_a_true_deny_rule_without_actions_denies_nothing() -> None:
    policy = Policy.from_text('resource._actions = "read"', 'user.sub = "ada"\nresource._actions = "read"')
    assert policy.decide(ADA, APP1, "read")  # rule 1 is true and ends the deny pass: rule 2 never runs
    assert not policy.decide(BOB, APP1, "read")


def test_has_privilege_sees_earlier_grants_net_of_denials() -> None:
    documented = ('user.country = "uk" and resource._resourcetype = "App.Object" and resource._actions = "create"\n'
                  'resource._resourcetype = "App.Object" and resource.HasPrivilege("create") and '
                  'resource._actions = {"read", "update"}\n')
    assert allowed(Policy.from_text(documented), ADA, SHEET) == {"create", "read", "update"}
    assert allowed(Policy.from_text(documented), BOB, SHEET) == set()
    reversed_order = "\n".join(reversed(documented.strip().splitlines()))
    assert allowed(Policy.from_text(reversed_order), ADA, SHEET) == {"create"}
    denied = Policy.from_text(documented, 'resource._actions = "create"')
    assert allowed(denied, ADA, SHEET) == set()  # create is denied, so the rule that needs it grants nothing
    assert allowed(Policy.from_text(documented + 'resource.HasPrivilege("*") and resource._actions = "delete"'),
                   ADA, SHEET) == {"create", "read", "update"}


def test_app_has_privilege_asks_the_apps_decision() -> None:
    policy = Policy.from_text(
        'resource._resourcetype = "App" and resource.owner = user and resource._actions = {"read", "update"}\n'
        'resource._resourcetype = "App.Object" and resource.app.HasPrivilege("update") and '
        'resource._actions = {"create", "read"}\n')
    assert allowed(policy, ADA, SHEET) == {"create", "read"}
    assert allowed(policy, BOB, SHEET) == set()
    other = Resource.for_object(Resource.for_app("app-2", owner="bob"), "s", "sheet")
    assert allowed(policy, BOB, other) == {"create", "read"}
    # the app's own deny rules count: its decision is complete
    denied = Policy.from_text(policy.allow_rules[0].text + "\n" + policy.allow_rules[1].text,
                              'resource._resourcetype = "App" and resource._actions = "update"')
    assert allowed(denied, ADA, SHEET) == set()


def test_personal_user_with_jwt_off() -> None:
    claims = user_claims(PERSONAL_USER)
    assert claims == {"sub": "Personal\\Me"}
    policy = Policy.from_text('user.id = "Personal\\Me" and resource._actions = "read"\n'
                              'user = "personal\\me" and resource._actions = "update"')
    assert allowed(policy, claims) == {"read", "update"}
    assert user_claims("x", {"sub": "ada", "a": 1}) == {"sub": "ada", "a": 1}


def test_decision_error_is_the_engines_access_denied() -> None:
    policy = Policy.from_text('resource._actions = "read"')
    decision = policy.decide(ADA, SHEET, "create")
    err = decision.error()
    assert (err.code, err.message, err.parameter) == (ACCESS_DENIED, "Access denied",
                                                      "Access denied to create sheet object")
    assert "access denied" in str(err).lower()
    with pytest.raises(type(err)) as info:
        decision.check("Access denied to set script")
    assert info.value.parameter == "Access denied to set script"
    policy.decide(ADA, SHEET, "read").check()
    assert policy.decide(ADA, APP1, "delete").error().parameter == "Access denied to delete app"


def test_unrestricted_policy_allows_everything() -> None:
    policy = Policy.unrestricted()
    for action in (*ACTIONS, "publish"):
        assert policy.decide(BOB, SHEET, action)
    assert policy.privileges(BOB, APP1) == ["read", "create", "update", "delete", "reload", "import", "export",
                                            "exportdata"]


def test_privilege_names() -> None:
    assert privilege_names(frozenset({"export data", "read", "publish", "approve"})) == \
        ["read", "exportdata", "approve", "publish"]
    policy = Policy.from_text('resource._actions = {"update", "read"}')
    assert policy.privileges(ADA, APP1) == ["read", "update"]


def test_users_and_resources_are_cached_by_value() -> None:
    policy = Policy.from_text('user.roles = "admin" and resource._actions = "read"\n'
                              'resource.owner = user and resource.published = true and resource._actions = "update"')
    ada = policy.for_user(dict(ADA))
    assert policy.for_user({"country": "uk", "roles": ["admin"], "sub": "ada"}) is ada  # key order is no matter
    assert policy.for_user(BOB) is not ada
    assert ada.rule_count == 2 and policy.for_user(BOB).rule_count == 1  # bob's admin rule folded away
    unpublished = Resource.for_app("app-1", "Sales", "ada", published=False)
    published = Resource.for_app("app-1", "Sales", "ada", published=True)
    assert published == Resource.for_app("app-1", "Sales", "ada", published=True)
    assert hash(published) == hash(Resource.for_app("app-1", "Sales", "ada", published=True))
    assert published != unpublished
    assert ada.allowed_actions(unpublished) == {"read"}
    assert ada.allowed_actions(published) == {"read", "update"}
    assert ada.decide(published, "update") is ada.decide(Resource.for_app("app-1", "Sales", "ada", published=True),
                                                          "update")


def test_caches_stay_bounded_and_right(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.app import abac

    monkeypatch.setattr(abac, "_RESOURCE_CACHE", 8)
    monkeypatch.setattr(abac, "_USER_CACHE", 4)
    policy = Policy.from_text('resource.owner = user and resource._actions = "update"\n'
                              'resource._objecttype = "sheet" and resource._actions = "read"')
    user = policy.for_user(ADA)
    items = [Resource.for_object(APP1, f"o{i}", ("sheet", "chart")[i % 2], owner=("ada", "bob")[i % 3 == 0])
             for i in range(40)]
    for _ in range(2):
        for i, item in enumerate(items):
            expected = ({"read"} if i % 2 == 0 else set()) | ({"update"} if i % 3 else set())
            assert user.allowed_actions(item) == expected and user.decide(item, "update").allowed is (i % 3 != 0)
    assert len(user._outcomes) <= 8 and len(user._decisions) <= 16
    for i in range(10):
        policy.for_user({"sub": f"u{i}"})
    assert len(policy._users) <= 4


def test_unknown_actions_are_warnings() -> None:
    policy = Policy.from_text('resource._actions = {"read", "publish"}', 'resource._actions = "frob"')
    assert policy.warnings == ("allow:1: unknown action 'publish' (known: " + ", ".join(ACTIONS) + ")",
                               "deny:1: unknown action 'frob' (known: " + ", ".join(ACTIONS) + ")")


def test_rules_are_skipped_only_where_they_cannot_be_true() -> None:
    """The type index and the claim index keep every rule that may apply: spellings, sides, lists, or."""
    policy = Policy.from_text(
        '"APP.OBJECT" = resource._resourcetype and resource._actions = "read"\n'
        'resource._objecttype = {"Chart", "SHEET"} and resource._actions = "update"\n'
        'resource._objecttype = "sheet" and resource._objecttype = "chart" and resource._actions = "delete"\n'
        '(resource._objecttype = "x" or user.roles = "admin") and resource._actions = "reload"\n'
        '"ADMIN" = user.roles and resource._actions = "export"\n'
        'user.Roles = {"x", "Admin"} and resource._actions = "import"\n'
        'user.ROLES and resource._actions = "create"\n'
        'user.missing = "x" and resource._actions = "export data"\n')
    assert allowed(policy, ADA, SHEET) == {"read", "update", "reload", "export", "import"}
    assert allowed(policy, {"sub": "x", "roles": True}, SHEET) == {"read", "update", "create"}
    assert allowed(policy, ADA, APP1) == {"reload", "export", "import"}
    assert allowed(policy, {"sub": "y", "roles": ["ADMIN"]}, APP1) == {"reload", "export", "import"}


RULE_TEMPLATES = (
    'user.roles = {R} and resource._resourcetype = {T} and resource._actions = {A}',
    'resource._objecttype = {O} and resource.owner = user and resource._actions = {A}',
    'user.flag and resource._actions = {A}',
    '(user.roles = {R} or resource.name like "n*") and resource._actions = {A}',
    'resource._resourcetype = {T} and resource.HasPrivilege({B}) and resource._actions = {A}',
    'resource.app.HasPrivilege({B}) and resource._actions = {A}',
    '{T} = resource._resourcetype and user.roles = {R} and resource._actions = {A}',
    'user.roles = {R}',
    '!(user.roles = {R}) and resource._objecttype = {O} and resource._actions = {A}',
    '(user.flag and resource._actions = {A}) or (resource.owner = "bob" and resource._actions = {B})',
)


def naive_allowed(allow: str, deny: str, claims: Mapping[str, Any], resource: Resource) -> set[str]:
    """Deny first, then every allow rule, by the letter of the documentation: no index, no cache."""
    from engine.app.rules import compile_granting, parse_rules

    granted: set[str] = set()
    denied: frozenset[str] = frozenset()

    class Ctx:
        def has_privilege(self, depth: int, action: str) -> bool:
            if depth == 0:
                return (action in granted or "*" in granted) and action not in denied and "*" not in denied
            return resource.app is not None and action in naive_allowed(allow, deny, claims, resource.app)

    def grants(rule_node: Any) -> frozenset[str] | None:
        compiled = compile_granting(rule_node, claims)
        return compiled(resource, Ctx()) if callable(compiled) else compiled

    for rule in parse_rules(deny):
        acts = grants(rule.node)
        if acts is not None:
            denied = acts
            break
    for rule in parse_rules(allow):
        acts = grants(rule.node)
        if acts:
            granted |= acts
    if "*" in denied:
        return set()
    result = (set(ACTIONS) | granted) - {"*"} if "*" in granted else set(granted)
    return result - denied


def rule_sets() -> Any:
    from hypothesis import strategies as st

    def fill(template: str, r: str, t: str, o: str, a: list[str], b: str) -> str:
        return (template.replace("{R}", r).replace("{T}", t).replace("{O}", o)
                .replace("{A}", "{" + ", ".join(f'"{x}"' for x in a) + "}").replace("{B}", f'"{b}"'))

    rule = st.builds(fill, st.sampled_from(RULE_TEMPLATES), st.sampled_from(['"admin"', '{"dev", "ADMIN"}', '"dev"']),
                     st.sampled_from(['"App"', '"app.object"', '{"app", "App.Object"}']),
                     st.sampled_from(['"sheet"', '"chart"', '{"Sheet", "x"}']),
                     st.lists(st.sampled_from([*ACTIONS[:5], "*"]), min_size=1, max_size=2),
                     st.sampled_from(ACTIONS[:4]))
    return st.lists(rule, max_size=8).map("\n".join)


def test_policy_matches_a_naive_evaluation() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    claims = st.fixed_dictionaries({"sub": st.sampled_from(["ada", "bob"])},
                                   optional={"roles": st.lists(st.sampled_from(["admin", "Dev", "x"]), max_size=2),
                                             "flag": st.booleans()})
    apps = st.builds(Resource.for_app, st.just("a"), st.sampled_from(["n1", "m"]), st.sampled_from(["ada", "bob"]))
    resources = st.one_of(apps, st.builds(Resource.for_object, apps, st.just("o"),
                                          st.sampled_from(["sheet", "chart", "x"]), st.sampled_from(["n", "m"]),
                                          st.sampled_from(["ada", "bob"])))

    @settings(max_examples=300, deadline=None)
    @given(rule_sets(), rule_sets().map(lambda text: "\n".join(text.splitlines()[:3])), claims,
           st.lists(resources, min_size=1, max_size=4))
    def check(allow: str, deny: str, user: dict[str, Any], items: list[Resource]) -> None:
        policy = Policy.from_text(allow, deny)
        for resource in items + items:  # twice: the second pass answers from the caches
            assert allowed(policy, user, resource) == naive_allowed(allow, deny, user, resource), (allow, deny)

    check()


# --------------------------------------------------------------------------------------------------------
# the core-authorization example, through the permissions table
# --------------------------------------------------------------------------------------------------------

# "empty engine": admins may do anything, everybody may read apps and their objects
EMPTY_ENGINE_ALLOW = """
# role admin: every action on everything
user.roles = {"admin"} && resource._actions = "*"
# anyone: read apps and objects
resource._resourcetype = {"app", "app.object"} and resource._actions = {"read"}
"""

# "reload engine": creators create but do not reload, reloaders reload but do not create apps, viewers view
RELOAD_ENGINE_ALLOW = """
user.allowCreate && resource._actions = {"read", "update", "create"}
user.allowReload && resource._resourcetype = {"app"} and resource._actions = {"read", "reload", "update"}
user.allowReload && resource._resourcetype = {"app.object"} and resource._actions = {"read", "create", "reload", "update"}
user.allowView && resource._resourcetype = {"app", "app.object"} and resource._actions = {"read"}
"""

MOVIES_APP = Resource.for_app("APP01", "APP01", "someAdminUser")


def may(policy: Policy, claims: Mapping[str, Any], qtype: str, method: str, objecttype: str = "sheet") -> bool:
    """Whether every check the permissions table names for this call passes."""
    checks = for_method(qtype, method)
    user = policy.for_user(claims)
    for check in checks:
        if check.kind == APP:
            resource = MOVIES_APP
        else:
            resource = Resource.for_object(MOVIES_APP, "OBJ01", check.objecttype or objecttype,
                                           owner=claims["sub"] if check.source is Source.NEW else "")
        if not user.decide(resource, check.action):
            return False
    return True


def test_core_authorization_empty_engine() -> None:
    policy = Policy.from_text(EMPTY_ENGINE_ALLOW)
    admin = {"sub": "someAdminUser", "roles": ["admin"]}
    assert may(policy, admin, "Global", "CreateDocEx")
    assert may(policy, admin, "Global", "OpenDoc")
    assert may(policy, admin, "Doc", "CreateObject") and may(policy, admin, "Doc", "SaveObjects")
    assert may(policy, admin, "GenericObject", "GetInfo")
    non_admin = {"sub": "someNonAdminUser"}
    assert may(policy, non_admin, "Global", "OpenDoc")
    assert may(policy, non_admin, "Doc", "GetObject") and may(policy, non_admin, "GenericObject", "GetLayout")
    assert not may(policy, non_admin, "Doc", "CreateObject")
    assert not may(policy, non_admin, "Global", "CreateDocEx")
    assert not may(policy, non_admin, "Global", "CreateApp")


def test_core_authorization_reload_engine() -> None:
    policy = Policy.from_text(RELOAD_ENGINE_ALLOW)
    creator = {"sub": "someCreateUser", "allowCreate": True}
    assert may(policy, creator, "Global", "CreateDocEx")
    assert may(policy, creator, "Doc", "CreateObject", "movies") and may(policy, creator, "Doc", "SaveObjects")
    assert may(policy, creator, "Doc", "SetScript")  # the reload helper sets the script first ...
    assert not may(policy, creator, "Doc", "DoReload")  # ... and its reload is denied

    reloader = {"sub": "someReloadUser", "allowReload": True}
    assert not may(policy, reloader, "Global", "CreateDocEx")
    assert may(policy, reloader, "Global", "OpenDoc")
    assert may(policy, reloader, "Doc", "SetScript") and may(policy, reloader, "Doc", "DoReload")
    assert may(policy, reloader, "Doc", "DoSave")

    viewer = {"sub": "someViewUser", "allowView": True}
    assert not may(policy, viewer, "Global", "CreateDocEx")
    assert may(policy, viewer, "Global", "OpenDoc")
    assert may(policy, viewer, "Doc", "GetObject", "movies") and may(policy, viewer, "GenericObject", "GetLayout")
    assert may(policy, viewer, "GenericObject", "GetHyperCubeData", "movies")
    assert not may(policy, viewer, "Doc", "CreateObject")
    assert not may(policy, viewer, "Doc", "SetScript") and not may(policy, viewer, "Doc", "DoReload")
    assert not may(policy, viewer, "GenericObject", "ExportData", "movies")  # reading is not exporting


# --------------------------------------------------------------------------------------------------------
# the permissions table
# --------------------------------------------------------------------------------------------------------


def test_every_registered_method_is_classified() -> None:
    import engine.rpc.handler  # noqa: F401  registers every interface's methods
    from engine.rpc.dispatch import REGISTRY

    registered = {(qtype, name): spec for qtype, methods in REGISTRY.items() for name, spec in methods.items()}
    assert len(registered) > 150
    missing = sorted(f"{q}.{m}" for q, m in registered if (q, m) not in QIX)
    assert missing == [], "methods with no entry in engine/app/permissions.py"
    for key, checks in QIX.items():
        spec = registered.get(key)
        for check in checks:
            assert check.kind in (APP, APP_OBJECT) and check.action in ACTIONS, key
            if check.source in (Source.PARAM,):
                assert check.param, key
            if spec is not None:  # a parameter the table names is one the method takes
                names = {p.name for p in spec.params}
                assert check.param is None or check.param in names, (key, check.param)
                assert check.unless is None or check.unless in names, (key, check.unless)


@pytest.mark.parametrize("qtype,method,expected", [
    ("Global", "EngineVersion", ()),
    ("Global", "OpenDoc", (Permission(APP, "read", Source.PARAM, "qDocName"),)),
    ("Global", "GetDocList", (Permission(APP, "read", Source.EACH),)),
    ("Global", "CreateSessionApp", (Permission(APP, "create", Source.NEW),)),
    ("Global", "DeleteApp", (Permission(APP, "delete", Source.PARAM, "qAppId"),)),
    ("Doc", "SetScript", (Permission(APP, "update"),)),
    ("Doc", "DoReloadEx", (Permission(APP, "reload"),)),
    ("Doc", "CreateConnection", (Permission(APP, "update"),)),
    ("Doc", "GetTableData", (Permission(APP, "export data"),)),
    ("Doc", "CreateObject", (Permission(APP_OBJECT, "create", Source.NEW, "qProp"),)),
    ("Doc", "CreateMeasure", (Permission(APP_OBJECT, "create", Source.NEW, "qProp", "measure"),)),
    ("Doc", "GetField", (Permission(APP_OBJECT, "read", Source.PARAM, "qFieldName", "field"),)),
    ("Doc", "ClearAll", ()),
    ("Field", "Select", ()),
    ("GenericObject", "GetLayout", (Permission(APP_OBJECT, "read"),)),
    ("GenericObject", "ApplyPatches", (Permission(APP_OBJECT, "update", unless="qSoftPatch"),)),
    ("GenericObject", "SelectHyperCubeValues", ()),
    ("GenericObject", "ExportData", (Permission(APP_OBJECT, "export data"),)),
    ("GenericVariable", "SetStringValue", (Permission(APP_OBJECT, "update"),)),
    ("GenericBookmark", "Apply", (Permission(APP_OBJECT, "read"),)),
])
def test_method_classification(qtype: str, method: str, expected: tuple[Permission, ...]) -> None:
    assert for_method(qtype, method) == expected


def test_unknown_method_is_unclassified() -> None:
    with pytest.raises(Unclassified, match="Doc.Frobnicate"):
        for_method("Doc", "Frobnicate")


@pytest.mark.parametrize("verb,path,pattern,action,params", [
    ("GET", "/v1/apps/privileges", "/v1/apps/privileges", None, {}),
    ("POST", "/v1/apps/import", "/v1/apps/import", "import", {}),
    ("GET", "/v1/apps/abc", "/v1/apps/{id}", "read", {"id": "abc"}),
    ("put", "/v1/apps/abc/", "/v1/apps/{id}", "update", {"id": "abc"}),
    ("DELETE", "/v1/apps/abc", "/v1/apps/{id}", "delete", {"id": "abc"}),
    ("POST", "/v1/apps/abc/copy", "/v1/apps/{id}/copy", "read", {"id": "abc"}),
    ("GET", "/v1/apps/abc/export", "/v1/apps/{id}/export", "export", {"id": "abc"}),
    ("GET", "/v1/apps/abc/data/metadata", "/v1/apps/{id}/data/metadata", "read", {"id": "abc"}),
    ("GET", "/v1/apps/abc/media/files/img/a.png", "/v1/apps/{id}/media/files/{path}", "read",
     {"id": "abc", "path": "img/a.png"}),
    ("DELETE", "/v1/apps/abc/media/files/a.png", "/v1/apps/{id}/media/files/{path}", "update",
     {"id": "abc", "path": "a.png"}),
])
def test_rest_endpoints(verb: str, path: str, pattern: str, action: str | None, params: dict[str, str]) -> None:
    match = for_endpoint(verb, path)
    assert match is not None and match.pattern == pattern and dict(match.params) == params
    assert (match.checks[0].action if match.checks else None) == action


def test_rest_copy_needs_read_and_create() -> None:
    match = for_endpoint("POST", "/v1/apps/abc/copy")
    assert match is not None
    assert [(c.action, c.source) for c in match.checks] == [("read", Source.PARAM), ("create", Source.NEW)]


def test_rest_unknown() -> None:
    assert for_endpoint("GET", "/healthcheck") is None
    assert for_endpoint("GET", "/v1/apps/abc/media/files") is None  # no file named
    with pytest.raises(Unclassified, match="PATCH /v1/apps/abc"):
        for_endpoint("PATCH", "/v1/apps/abc")
    assert permissions.REST  # one table


# --------------------------------------------------------------------------------------------------------
# settings and rule files
# --------------------------------------------------------------------------------------------------------


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_settings_defaults_and_parsing(tmp_path: Path) -> None:
    s = parse_args([])
    assert (s.enable_abac, s.system_allow_rule_path, s.system_deny_rule_path) == (False, None, None)
    allow, deny = write(tmp_path / "a.txt", ""), write(tmp_path / "d.txt", "")
    s = parse_args(["-S", "enableabac=1", "-S", f"SystemAllowRulePath={allow}", "-S", f"SystemDenyRulePath={deny}"])
    assert (s.enable_abac, s.system_allow_rule_path, s.system_deny_rule_path) == (True, allow, deny)
    assert {"EnableABAC", "SystemAllowRulePath", "SystemDenyRulePath"} <= {spec.name for spec in SPECS}
    # paths are not checked while ABAC is off
    assert parse_args(["-S", "SystemAllowRulePath=/nonexistent"]).system_allow_rule_path == Path("/nonexistent")


@pytest.mark.parametrize("argv,setting,needle", [
    (["-S", "EnableABAC=2"], "EnableABAC", "must be one of 0, 1"),
    (["-S", "EnableABAC=1", "-S", "SystemAllowRulePath=/nonexistent/allow.txt"], "SystemAllowRulePath",
     "cannot read rules file /nonexistent/allow.txt"),
    (["-S", "EnableABAC=1", "-S", "SystemDenyRulePath=/"], "SystemDenyRulePath", "cannot read rules file /"),
])
def test_settings_errors(argv: list[str], setting: str, needle: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_args(argv)
    assert info.value.setting == setting and needle in info.value.problem


def test_rule_files_errors_name_file_line_and_column(tmp_path: Path) -> None:
    bad = write(tmp_path / "allow.txt", '# ok\nresource._actions = "read"\nuser.x = = "y"\n')
    with pytest.raises(RuleFileError) as info:
        RuleFiles(bad)
    assert str(info.value) == f"SystemAllowRulePath: {bad}:3:10: expected a value or a condition, found '='"
    latin1 = write(tmp_path / "deny.txt", b'resource._actions = "read"\nuser.x = "caf\xe9"\n')
    with pytest.raises(RuleFileError) as info:
        RuleFiles(None, latin1)
    assert str(info.value) == f"SystemDenyRulePath: {latin1}:2:14: not UTF-8 text"
    with pytest.raises(RuleFileError, match="cannot read rules file"):
        RuleFiles(tmp_path / "missing.txt")


def test_rule_files_follow_changes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    allow = write(tmp_path / "allow.txt", 'resource._actions = "read"\n')
    files = RuleFiles(allow)
    first = files.current()
    assert files.current() is first and allowed(first, ADA) == {"read"}
    write(allow, 'resource._actions = {"read", "update"}\n')
    os.utime(allow, ns=(1, 1))  # a different mtime even on a coarse clock
    second = files.current()
    assert second is not first and allowed(second, ADA) == {"read", "update"}
    assert files.current() is second
    # a broken file keeps the last good rules and logs once
    write(allow, 'resource._actions = {"read", \n')
    with caplog.at_level(logging.ERROR, logger="qix.abac"):
        assert files.current() is second and files.current() is second
    assert [r.getMessage() for r in caplog.records].count(
        f"ABAC rules not reloaded, the previous rules stay in force: SystemAllowRulePath: {allow}:1:30: "
        "a {list} holds strings, numbers or true/false, found the end of the rule") == 1
    with pytest.raises(RuleFileError):
        files.reload()
    # a removed file is an error too; once fixed, the new rules apply
    allow.unlink()
    assert files.current() is second
    write(allow, 'resource._actions = "delete"\n')
    assert allowed(files.current(), ADA) == {"delete"}
    assert allowed(files.reload(), ADA) == {"delete"}


def test_rule_files_disabled_and_from_settings(tmp_path: Path) -> None:
    off = RuleFiles.from_settings(Settings())
    assert not off.enabled and not off.current().enabled and off.current().decide(BOB, APP1, "delete")
    allow = write(tmp_path / "allow.txt", 'user.roles = "admin" and resource._actions = "*"\n')
    deny = write(tmp_path / "deny.txt", 'resource._actions = "delete"\n')
    on = RuleFiles.from_settings(Settings(enable_abac=True, system_allow_rule_path=allow, system_deny_rule_path=deny))
    policy = on.current()
    assert allowed(policy, ADA) == set(ACTIONS) - {"delete"} and allowed(policy, BOB) == set()
    assert policy.decide(ADA, APP1, "delete").denied_by == RuleRef(str(deny), 1, 'resource._actions = "delete"')
    assert allowed(RuleFiles.from_settings(Settings(enable_abac=True)).current(), ADA) == set()


# --------------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------------


def test_main_logs_rules_and_warnings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                      tmp_path: Path) -> None:
    fake = types.ModuleType("engine.server")
    fake.run = lambda settings, authenticator: 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.server", fake)
    monkeypatch.setattr(engine, "server", fake, raising=False)
    allow = write(tmp_path / "allow.txt", 'resource._actions = {"read", "publish"}\n')
    with caplog.at_level(logging.INFO):
        assert cli.main(["--port", "0", "-S", "EnableABAC=1", "-S", f"SystemAllowRulePath={allow}"]) == 0
        assert cli.main(["--port", "0", "-S", f"SystemDenyRulePath={allow}"]) == 0
    messages = [r.getMessage() for r in caplog.records]
    assert "ABAC on: 1 allow rules, 0 deny rules" in messages
    assert f"ABAC {allow}:1: unknown action 'publish' (known: {', '.join(ACTIONS)})" in messages
    assert "SystemAllowRulePath and SystemDenyRulePath are ignored: EnableABAC=0" in messages


@pytest.mark.parametrize("rules,expected", [
    (None, "qix-engine: SystemAllowRulePath: cannot read rules file {path}"),
    ('resource._actions = "read"\n(user.a = "b"\n', "qix-engine: SystemAllowRulePath: {path}:2:14: expected ')' "
                                                    "to close the '(' at column 1, found the end of the rule"),
])
def test_process_exits_2_with_one_line(tmp_path: Path, rules: str | None, expected: str) -> None:
    path = tmp_path / "allow.txt"
    if rules is not None:
        write(path, rules)
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    proc = subprocess.run([sys.executable, "-m", "engine", "--port", "0", "-S", "PrometheusPort=0",
                           "-S", "EnableABAC=1", "-S", f"SystemAllowRulePath={path}"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [expected.format(path=path)]
