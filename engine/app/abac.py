"""Document-level access control: allow and deny rule files -> a decision per (user, resource, action).

Wiring is one call per request: a session keeps ``rule_files.current().for_user(claims)`` (a
:class:`UserPolicy`, made when the session starts, which is when the real engine reads the rule files)
and asks ``decide(resource, action)`` before an operation; :mod:`engine.app.permissions` says which
resource and action each QIX method and REST endpoint needs.

How a decision is made, as the engine documents it: the deny rules run first, in file order, and the
first true one denies the actions it names and ends the deny pass; then every allow rule runs, each true
one adding its actions. An action is allowed when some allow rule granted it (or ``"*"``) and the deny
rule did not name it (or ``"*"``). With no rule granting anything, everything is denied.

Cost: rules are parsed once per file version; per user they are compiled with the user's claims folded
in (:mod:`engine.app.rules`), so a check runs only the rules that depend on the resource, and its outcome
is cached per resource until the policy or the resource's attributes change. The steady state is one
dict lookup per check.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from engine.app.rules import (
    ACTIONS,
    ALL,
    APP,
    APP_OBJECT,
    EXPORT_DATA,
    Granting,
    Resource,
    Rule,
    RuleSyntaxError,
    compile_granting,
    necessary_claim,
    normalize_action,
    parse_rules,
    reads_user,
    texts,
    type_requirement,
    user_value,
)
from engine.errors import ACCESS_DENIED, QixError
from engine.settings import Settings, SettingsError

__all__ = ["ACTIONS", "Decision", "Policy", "Resource", "RuleFileError", "RuleFiles", "RuleRef", "UserPolicy",
           "privilege_names", "user_claims"]

log = logging.getLogger("qix.abac")

#: The engine user when JWT is off (``auth.PERSONAL_USER``; repeated to keep this layer free of auth).
PERSONAL_USER = "Personal\\Me"
#: Largest rules file read; far beyond any hand-written policy, small enough to never hurt memory.
MAX_RULES_FILE = 8 << 20
#: Users whose compiled rules a policy keeps for reuse, and resources whose outcome a user's policy keeps:
#: bounded so that many users touching many objects cost at most a few hundred thousand small entries.
_USER_CACHE = 256
_RESOURCE_CACHE = 1024


def _make_room(cache: dict[Any, Any], limit: int) -> None:
    """Before adding to a full cache, drop its older half (dicts keep insertion order): no cliff where a
    working set just over the limit would miss every time."""
    if len(cache) >= limit:
        for key in list(itertools.islice(cache, limit // 2)):
            del cache[key]


def user_claims(user_id: str, claims: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``user`` object of the rules: the token's claims, with ``sub`` defaulting to ``user_id``.

    With JWT off there are no claims and the user is ``Personal\\Me``: ``user_claims(identity.user,
    identity.claims)`` covers both cases.
    """
    out = dict(claims or {})
    out.setdefault("sub", user_id)
    return out


# --------------------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RuleRef:
    """Where a rule is written: for logs and audit lines (``deny.txt:3``)."""

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one check; truthy when allowed."""

    allowed: bool
    action: str
    resource: Resource
    #: every action allowed on this resource (``"*"`` expanded to the engine's actions)
    actions: frozenset[str]
    #: the deny rule that took this action away, if one did
    denied_by: RuleRef | None = None

    def __bool__(self) -> bool:
        return self.allowed

    def error(self, parameter: str | None = None) -> QixError:
        """The engine's answer to a denied call: code 5, "Access denied"."""
        return QixError(ACCESS_DENIED, parameter or f"Access denied to {self.action} {_describe(self.resource)}")

    def check(self, parameter: str | None = None) -> None:
        """Raise :meth:`error` unless allowed."""
        if not self.allowed:
            raise self.error(parameter)


def _describe(resource: Resource) -> str:
    if resource.resourcetype == APP:
        return "app"
    return f"{resource.objecttype} object" if resource.objecttype else "object"


def _permits(granted: frozenset[str], denied: frozenset[str], action: str) -> bool:
    return (action in granted or ALL in granted) and action not in denied and ALL not in denied


def _expand(granted: frozenset[str], denied: frozenset[str]) -> frozenset[str]:
    if ALL in denied:
        return frozenset()
    names = (set(ACTIONS) | granted) - {ALL} if ALL in granted else set(granted)
    return frozenset(names - denied)


def privilege_names(actions: frozenset[str]) -> list[str]:
    """Actions as an NxApp ``privileges`` list: the engine's order and spelling (``exportdata``)."""
    return list(_privilege_names(actions))


@functools.lru_cache(maxsize=256)
def _privilege_names(actions: frozenset[str]) -> tuple[str, ...]:
    # every layout asks (qMeta.privileges), and a policy has few distinct action sets
    known = [("exportdata" if a == EXPORT_DATA else a) for a in ACTIONS if a in actions]
    return (*known, *sorted(a for a in actions if a not in ACTIONS))


@dataclass(frozen=True, slots=True)
class _Outcome:
    granted: frozenset[str]  # raw: may hold "*"
    denied: frozenset[str]
    denied_by: RuleRef | None
    actions: frozenset[str]  # expanded and net of denials


_Requirement = tuple[frozenset[str] | None, frozenset[str] | None]
_CompiledRule = tuple[RuleRef, Granting, _Requirement]


def _may_apply(requirement: _Requirement, key: tuple[str, str | None]) -> bool:
    types, objecttypes = requirement
    return (types is None or key[0] in types) and (objecttypes is None or
                                                    (key[1] is not None and key[1] in objecttypes))


class _Evaluation:
    """One resource's pass over the rules: what is granted so far, for ``HasPrivilege``."""

    __slots__ = ("owner", "resource", "granted", "denied")

    def __init__(self, owner: UserPolicy, resource: Resource) -> None:
        self.owner, self.resource = owner, resource
        self.granted: frozenset[str] = frozenset()
        self.denied: frozenset[str] = frozenset()

    def has_privilege(self, depth: int, action: str) -> bool:
        if depth == 0:
            return _permits(self.granted, self.denied, action)
        target: Resource | None = self.resource
        for _ in range(depth):
            target = target.app if target is not None else None
        if target is None:
            return False
        outcome = self.owner.outcome(target)
        return _permits(outcome.granted, outcome.denied, action)


class UserPolicy:
    """A policy compiled for one user; keep one per session (cheap to ask, caches per resource).

    Not locked: called from several threads at once, the worst that happens is an outcome computed twice.
    """

    def __init__(self, deny: Sequence[_CompiledRule], allow: Sequence[_CompiledRule]) -> None:
        self._deny = tuple(deny)
        self._allow = tuple(allow)
        self._outcomes: dict[Resource, _Outcome] = {}
        self._decisions: dict[tuple[Resource, str], Decision] = {}
        #: (resource type, object type) -> the deny and allow rules that can be true for such a resource
        self._by_type: dict[tuple[str, str | None], tuple[tuple[tuple[RuleRef, Granting], ...], ...]] = {}

    def _rules_for(self, resource: Resource) -> tuple[tuple[tuple[RuleRef, Granting], ...], ...]:
        objecttype = resource.objecttype.casefold() if resource.resourcetype == APP_OBJECT else None
        key = (resource.resourcetype.casefold(), objecttype)
        hit = self._by_type.get(key)
        if hit is None:
            _make_room(self._by_type, _RESOURCE_CACHE)
            hit = self._by_type[key] = tuple(tuple((ref, rule) for ref, rule, req in rules if _may_apply(req, key))
                                             for rules in (self._deny, self._allow))
        return hit

    @property
    def rule_count(self) -> int:
        """Rules left once the user's claims are folded in (the ones a check still runs)."""
        return len(self._deny) + len(self._allow)

    def outcome(self, resource: Resource) -> _Outcome:
        hit = self._outcomes.get(resource)
        if hit is None:
            _make_room(self._outcomes, _RESOURCE_CACHE)
            hit = self._outcomes[resource] = self._evaluate(resource)
        return hit

    def _evaluate(self, resource: Resource) -> _Outcome:
        ev = _Evaluation(self, resource)
        denied_by: RuleRef | None = None
        deny, allow = self._rules_for(resource)
        for ref, rule in deny:
            acts = rule if not callable(rule) else rule(resource, ev)
            if acts is not None:
                ev.denied, denied_by = acts, ref
                break
        for _ref, rule in allow:
            acts = rule if not callable(rule) else rule(resource, ev)
            if acts:
                ev.granted = ev.granted | acts
        return _Outcome(ev.granted, ev.denied, denied_by, _expand(ev.granted, ev.denied))

    def decide(self, resource: Resource, action: str) -> Decision:
        """May this user do ``action`` (one of :data:`ACTIONS`) on ``resource``?"""
        key = (resource, action)
        hit = self._decisions.get(key)
        if hit is not None:
            return hit
        outcome = self.outcome(resource)
        action = normalize_action(action)
        allowed = _permits(outcome.granted, outcome.denied, action)
        denied_by = outcome.denied_by if not allowed and (action in outcome.denied or ALL in outcome.denied) \
            else None
        decision = Decision(allowed, action, resource, outcome.actions, denied_by)
        _make_room(self._decisions, 2 * _RESOURCE_CACHE)
        self._decisions[key] = decision
        return decision

    def allowed(self, resource: Resource, action: str) -> bool:
        return self.decide(resource, action).allowed

    def allowed_actions(self, resource: Resource) -> frozenset[str]:
        return self.outcome(resource).actions

    def privileges(self, resource: Resource) -> list[str]:
        """The NxApp ``privileges`` list of ``resource`` for this user."""
        return privilege_names(self.outcome(resource).actions)


class _Unrestricted(UserPolicy):
    """ABAC off: everything allowed, at the cost of a constant."""

    def __init__(self) -> None:
        super().__init__((), ())

    def outcome(self, resource: Resource) -> _Outcome:
        return _EVERYTHING

    def decide(self, resource: Resource, action: str) -> Decision:
        return Decision(True, action, resource, _EVERYTHING.actions)


_EVERYTHING = _Outcome(frozenset({ALL}), frozenset(), None, frozenset(ACTIONS))
_UNRESTRICTED = _Unrestricted()


# --------------------------------------------------------------------------------------------------------
# Policy: the rules of one version of the files
# --------------------------------------------------------------------------------------------------------

class _ClaimIndex:
    """Rules by a claim they need (``user.roles = "admin" and ...``): a new user's compilation visits
    only the rules whose needed claim the user has, plus those that need none."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.always: list[int] = []
        self.by_claim: dict[tuple[str, ...], dict[str, list[int]]] = {}
        for position, rule in enumerate(rules):
            needed = necessary_claim(rule.node)
            if needed is None:
                self.always.append(position)
                continue
            path, values = needed
            by_value = self.by_claim.setdefault(path, {})
            for value in values:
                by_value.setdefault(value, []).append(position)

    def candidates(self, claims: Mapping[str, Any]) -> list[int]:
        found = set(self.always)
        for path, by_value in self.by_claim.items():
            for value in texts(user_value(claims, path)):
                found.update(by_value.get(value.casefold(), ()))
        return sorted(found)


class Policy:
    """Parsed allow and deny rules; immutable (a file change makes a new Policy)."""

    def __init__(self, allow: Sequence[Rule] = (), deny: Sequence[Rule] = (), *, allow_path: str = "allow",
                 deny_path: str = "deny", enabled: bool = True) -> None:
        self.enabled = enabled
        self.allow_rules = tuple(allow)
        self.deny_rules = tuple(deny)
        self._allow_refs = tuple(RuleRef(allow_path, r.line, r.text) for r in self.allow_rules)
        self._deny_refs = tuple(RuleRef(deny_path, r.line, r.text) for r in self.deny_rules)
        self._requirements = {id(r): type_requirement(r.node) for r in (*self.allow_rules, *self.deny_rules)}
        #: rules that never read ``user``, compiled once for every user
        self._shared = {id(r): compile_granting(r.node, {}) for r in (*self.allow_rules, *self.deny_rules)
                        if not reads_user(r.node)}
        self._allow_index, self._deny_index = _ClaimIndex(self.allow_rules), _ClaimIndex(self.deny_rules)
        self._users: dict[bytes, UserPolicy] = {}
        self.warnings = tuple(
            f"{ref}: unknown action {name!r} (known: {', '.join(ACTIONS)})"
            for rules, refs in ((self.allow_rules, self._allow_refs), (self.deny_rules, self._deny_refs))
            for rule, ref in zip(rules, refs, strict=True) for name, _col in rule.unknown_actions)

    @classmethod
    def unrestricted(cls) -> Policy:
        """EnableABAC=0: every action allowed."""
        return cls(enabled=False)

    @classmethod
    def from_text(cls, allow: str = "", deny: str = "") -> Policy:
        """Rules given as text (tests, tools). Raises RuleSyntaxError."""
        return cls(parse_rules(allow), parse_rules(deny))

    def for_user(self, claims: Mapping[str, Any]) -> UserPolicy:
        """The rules compiled for one user (``user_claims(...)``); cached per distinct claims."""
        if not self.enabled:
            return _UNRESTRICTED
        key = orjson.dumps(dict(claims), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                           default=str)
        hit = self._users.get(key)
        if hit is None:
            _make_room(self._users, _USER_CACHE)
            hit = self._users[key] = UserPolicy(
                self._compile(self.deny_rules, self._deny_refs, self._deny_index.candidates(claims), claims),
                self._compile(self.allow_rules, self._allow_refs, self._allow_index.candidates(claims), claims))
        return hit

    def _compile(self, rules: Sequence[Rule], refs: Sequence[RuleRef], positions: Sequence[int],
                 claims: Mapping[str, Any]) -> list[_CompiledRule]:
        out: list[_CompiledRule] = []
        shared = self._shared
        for position in positions:
            rule, ref = rules[position], refs[position]
            granting = shared[id(rule)] if id(rule) in shared else compile_granting(rule.node, claims)
            if granting is not None:  # never true for this user: drop it
                out.append((ref, granting, self._requirements[id(rule)]))
        return out

    def decide(self, claims: Mapping[str, Any], resource: Resource, action: str) -> Decision:
        return self.for_user(claims).decide(resource, action)

    def allowed_actions(self, claims: Mapping[str, Any], resource: Resource) -> frozenset[str]:
        return self.for_user(claims).allowed_actions(resource)

    def privileges(self, claims: Mapping[str, Any], resource: Resource) -> list[str]:
        return self.for_user(claims).privileges(resource)

    @property
    def rule_count(self) -> int:
        return len(self.allow_rules) + len(self.deny_rules)


# --------------------------------------------------------------------------------------------------------
# Rule files: read at start, re-read when they change
# --------------------------------------------------------------------------------------------------------

class RuleFileError(SettingsError):
    """A rules file is missing, unreadable or does not parse; at start the engine exits with code 2.

    ``str()`` is one line: ``SystemAllowRulePath: /rules/allow.txt:3:17: <problem>``.
    """


_Signature = tuple[int, int, int] | None


def _signature(path: Path | None) -> _Signature:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1, -1)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def read_rules(path: Path, setting: str) -> list[Rule]:
    """Parse one rules file; RuleFileError names the file, line and column of the first problem."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RULES_FILE + 1)
    except OSError as err:
        raise RuleFileError(setting, f"cannot read rules file {path}: {err.strerror or err}") from None
    if len(data) > MAX_RULES_FILE:
        raise RuleFileError(setting, f"{path}: larger than {MAX_RULES_FILE >> 20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise RuleFileError(setting, f"{path}:{line}:{column}: not UTF-8 text") from None
    try:
        return parse_rules(text)
    except RuleSyntaxError as err:
        raise RuleFileError(setting, f"{path}:{err.line}:{err.column}: {_one_line(err.message)}") from None


class RuleFiles:
    """``SystemAllowRulePath`` and ``SystemDenyRulePath`` as a Policy that follows their changes.

    :meth:`current` costs two ``stat`` calls when nothing changed; call it when a session starts. A file
    that breaks after the start keeps the last good policy in force and logs the error once;
    :meth:`reload` re-reads unconditionally and raises it (for an explicit reload request).
    """

    def __init__(self, allow_path: Path | None = None, deny_path: Path | None = None, *,
                 enabled: bool = True) -> None:
        self.enabled = enabled
        self.allow_path, self.deny_path = allow_path, deny_path
        self._signature: tuple[_Signature, _Signature] | None = None
        self._failed: tuple[_Signature, _Signature] | None = None
        self._policy = Policy.unrestricted()
        if enabled:
            self.reload()

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleFiles:
        """Read the files named by the settings. Raises RuleFileError (a SettingsError) for a bad one."""
        return cls(settings.system_allow_rule_path, settings.system_deny_rule_path, enabled=settings.enable_abac)

    def _signatures(self) -> tuple[_Signature, _Signature]:
        return (_signature(self.allow_path), _signature(self.deny_path))

    def reload(self) -> Policy:
        if not self.enabled:
            return self._policy
        signature = self._signatures()  # taken before reading: a write during the read shows next time
        allow = read_rules(self.allow_path, "SystemAllowRulePath") if self.allow_path else []
        deny = read_rules(self.deny_path, "SystemDenyRulePath") if self.deny_path else []
        self._policy = Policy(allow, deny, allow_path=str(self.allow_path or "allow"),
                              deny_path=str(self.deny_path or "deny"))
        self._signature, self._failed = signature, None
        return self._policy

    def current(self) -> Policy:
        if not self.enabled:
            return self._policy
        signature = self._signatures()
        if signature == self._signature or signature == self._failed:
            return self._policy
        try:
            policy = self.reload()
        except RuleFileError as err:
            self._failed = signature
            log.error("ABAC rules not reloaded, the previous rules stay in force: %s", err)
            return self._policy
        log.info("ABAC rules reloaded: %d allow, %d deny", len(policy.allow_rules), len(policy.deny_rules))
        for warning in policy.warnings:
            log.warning("%s", warning)
        return policy
