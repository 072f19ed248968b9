"""The one access check every app-level operation goes through: section access first, then document rules.

Opening, deleting, copying, exporting or importing an app, changing its script, connections or properties,
reloading and saving all ask :meth:`AppGuard.check` with an action name, so no operation can forget a
check its siblings make. Section access decides with the app's security table alone (no data needed):
any row that applies lets a user read; the actions that change or copy the app out need ADMIN. The
document rules (ABAC, ``EnableABAC=1``) are asked next, through the user's :class:`UserPolicy`, and may
deny on their own.

QIX methods are checked once, at dispatch (:meth:`AppGuard.check_call`), by the table in
:mod:`engine.app.permissions`: the resource is found from the handle, a parameter, the thing being created
or the session's app, and a denied call answers code 5 before its handler runs, so it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.app import permissions
from engine.app.abac import Decision, Policy, RuleFiles, UserPolicy, user_claims
from engine.app.access import grant_for
from engine.app.permissions import Permission, Source
from engine.app.rules import APP, Resource
from engine.auth import Identity
from engine.errors import ACCESS_DENIED, PERSONAL_SECTION_ACCESS, QixError

if TYPE_CHECKING:
    from engine.app.app import App, DocSession
    from engine.app.objects import Entity, EntityView
    from engine.rpc.dispatch import Call, SessionLike

#: actions as Qlik's access rules name them
READ, CREATE, UPDATE, RELOAD, DELETE = "read", "create", "update", "reload", "delete"
IMPORT, EXPORT, EXPORT_DATA = "import", "export", "export data"

#: actions that change the app or take it out whole: ADMIN only on an app with section access
ADMIN_ACTIONS = frozenset({UPDATE, RELOAD, DELETE, IMPORT, EXPORT})

#: generic entity kinds as ABAC object types (``resource._objecttype``) when the kind fixes it
_KIND_TYPES = {"dimension": "dimension", "measure": "measure", "bookmark": "bookmark", "variable": "variable"}


@dataclass(frozen=True)
class AppFacts:
    """What a check needs to know of an app, whether it is loaded or only on disk."""

    app_id: str
    section_access: Mapping[str, Any] | None = None
    owner: str = ""
    name: str = ""
    description: str = ""

    def resource(self) -> Resource:
        """The app as the rules see it (``resource.id``, ``.name``, ``.owner``, ``.description``)."""
        return Resource.for_app(self.app_id, self.name, self.owner, self.description)


def denied(what: str) -> QixError:
    """The engine's answer to a call the rules refuse."""
    return QixError(ACCESS_DENIED, f"Access denied to {what}", "Access denied")


class AppGuard:
    """Section access, then the document rules (when ABAC is on)."""

    def __init__(self, rules: RuleFiles | None = None) -> None:
        self.rules = rules
        self.enabled = rules is not None and rules.enabled

    # -- policies ---------------------------------------------------------------------------------------------
    def policy(self) -> Policy | None:
        """The rules in force (re-read when the files changed), None with ABAC off."""
        return self.rules.current() if self.enabled and self.rules is not None else None

    def policy_for(self, identity: Identity) -> UserPolicy:
        """``identity``'s compiled rules; a session makes it once, when it starts."""
        policy = self.policy() or Policy.unrestricted()
        return policy.for_user(user_claims(identity.user, identity.claims))

    def reload_rules(self) -> Policy | None:
        """Re-read the rule files now (raises RuleFileError for a bad file; the old rules stay)."""
        return self.rules.reload() if self.enabled and self.rules is not None else None

    # -- app-level ------------------------------------------------------------------------------------------
    def check(
        self,
        identity: Identity,
        app: AppFacts,
        action: str,
        *,
        script: bool = False,
        user: UserPolicy | None = None,
    ) -> None:
        """Return when allowed; raise 5 (Access denied), or 12002 for a section-access app without JWTs.

        ``script``: the operation shows the load script (which names every reduction), so section access
        wants ADMIN even for reading it. ``user``: the session's policy (else made for ``identity``).
        """
        check_section_access(identity, app, action, admin=script or action in ADMIN_ACTIONS)
        if self.enabled:
            self.decide(identity, app.resource(), action, user).check(
                f"Access denied to {action} app {app.app_id}"
            )

    def decide(
        self, identity: Identity, resource: Resource, action: str, user: UserPolicy | None = None
    ) -> Decision:
        return (user or self.policy_for(identity)).decide(resource, action)

    def allows(self, identity: Identity, app: AppFacts, action: str) -> bool:
        try:
            self.check(identity, app, action)
        except QixError:
            return False
        return True

    # -- QIX methods at dispatch ---------------------------------------------------------------------------------
    def check_call(self, call: Any, qtype: str, method: str, kwargs: Mapping[str, Any]) -> None:
        """Raise code 5 unless the session's user may make this call (ABAC on only; see the module doc).

        Global methods naming an app by id check in their handler (``check`` with the app's facts read off
        the disk, off the event loop); listings are filtered after the call (:meth:`visible`).
        """
        try:
            checks = permissions.for_method(qtype, method)
        except permissions.Unclassified:
            raise denied(f"{qtype}.{method}") from None
        if not checks:
            return
        session = call.session
        user: UserPolicy = session_policy(session)
        first = checks[0]
        if (
            len(checks) == 1
            and first.source is Source.HANDLE
            and first.kind != APP
            and not first.unless
            and _entity_of(call.target) is not None
            and first.action in view_actions(user, call.target)
        ):
            return  # the steady state of an object's handle: one memo compare (a denial takes the long way)
        for perm in checks:
            if perm.unless and kwargs.get(perm.unless):
                continue
            if perm.source is Source.EACH:
                if method == "DestroyAllChildren":
                    entity = _entity_of(call.target)
                    doc = _doc_of(call.target)
                    if entity is not None and doc is not None:
                        for child in entity.children:
                            self._require(user, object_resource(doc, child), perm.action)
                continue
            if qtype == "Global" and perm.source is Source.PARAM:
                continue
            resource = self._resource(call, perm, kwargs, session.identity)
            if resource is not None:
                self._require(user, resource, perm.action)

    @staticmethod
    def _require(user: UserPolicy, resource: Resource, action: str) -> None:
        if not user.decide(resource, action).allowed:
            raise denied(f"{action} {describe(resource)}")

    def _resource(
        self, call: Any, perm: Permission, kwargs: Mapping[str, Any], identity: Identity
    ) -> Resource | None:
        target = call.target
        if perm.source is Source.ACTIVE:
            doc = call.session.active_doc
            return None if doc is None else app_resource(doc.app)
        if perm.source is Source.NEW:
            if perm.kind == APP:
                name = kwargs.get(perm.param, "") if perm.param else ""
                return Resource.for_app(str(name or ""), str(name or ""), identity.user)
            doc = _doc_of(target)
            if doc is None:
                return None
            props = kwargs.get(perm.param) if perm.param else None
            info = props.get("qInfo") if isinstance(props, dict) else None
            objecttype = perm.objecttype or (str(info.get("qType") or "") if isinstance(info, dict) else "")
            object_id = str(info.get("qId") or "") if isinstance(info, dict) else str(props or "")
            return Resource.for_object(app_resource(doc.app), object_id, objecttype, owner=identity.user)
        doc = _doc_of(target)
        if doc is None:
            return None
        if perm.kind == APP:
            return app_resource(doc.app)
        if perm.source is Source.HANDLE:
            entity = _entity_of(target)
            if entity is not None:
                return object_resource(doc, entity)
            field = getattr(target, "name", None)  # a Field handle: an object of type "field"
            return Resource.for_object(app_resource(doc.app), str(field or ""), perm.objecttype or "field")
        # PARAM: an object named by id (or by name for fields and variables) in the handle's app
        object_id = str(kwargs.get(perm.param or "", "") or "")
        entity = _find(doc, object_id, perm.objecttype)
        if entity is not None:
            return object_resource(doc, entity)
        if perm.objecttype is None:
            return None  # no such object: the handler answers as it does for a missing one
        return Resource.for_object(app_resource(doc.app), object_id, perm.objecttype)

    def script_variables(self, call: Any) -> Callable[[Mapping[str, str]], None] | None:
        """For a reload (ABAC on): a check that the user may ``create`` each variable the script makes
        (every reload makes them anew), run at the end of the reload, before its result is installed."""
        if not self.enabled:
            return None
        user = session_policy(call.session)
        app = app_resource(_doc_of(call.target).app)

        def approve(variables: Mapping[str, str]) -> None:
            for name in variables:
                if not user.allowed(Resource.for_object(app, name, "variable"), CREATE):
                    raise denied(f"create variable object {name}: the script creates variable {name}")

        return approve

    def visible(self, call: Any, method: str, result: Any) -> Any:
        """Leave out of a listing what the session's user may not read (GetDocList/GetObjects/GetAllInfos);
        answer ``qMeta.privileges`` of a layout (GetLayout/GetAppLayout) from the policy."""
        if not self.enabled or not isinstance(result, dict):
            return result
        user = session_policy(call.session)
        if method in ("GetLayout", "GetAppLayout"):
            return _with_privileges(call, result, user)
        if method == "GetDocList":
            result["qDocList"] = [
                e for e in result.get("qDocList", []) if user.allowed(_listed_app(call, e), READ)
            ]
            return result
        doc = _doc_of(call.target)
        if doc is None:
            return result
        app = app_resource(doc.app)
        if method == "GetObjects":
            result["qList"] = [
                e
                for e in result.get("qList", [])
                if user.allowed(_info_resource(app, e.get("qInfo", {}), e.get("qMeta")), READ)
            ]
        elif method == "GetAllInfos":
            result["qInfos"] = [
                i for i in result.get("qInfos", []) if user.allowed(_info_resource(app, i), READ)
            ]
        return result


def _with_privileges(call: Any, result: dict[str, Any], user: UserPolicy) -> dict[str, Any]:
    """``qLayout.qMeta.privileges`` from the policy (a copy: layouts are cached and shared)."""
    layout = result.get("qLayout")
    doc = _doc_of(call.target)
    if not isinstance(layout, dict) or doc is None:
        return result
    target = call.target
    if _entity_of(target) is None:
        return _privileged(result, layout, user.privileges(app_resource(doc.app)))
    view: EntityView = target
    view_actions(user, view)
    assert view.access is not None
    privileges = view.access[2]
    shown = view.shown_layout  # (layout, privileges, answer): an unchanged object answers the same dict
    if shown is not None and shown[0] is layout and shown[1] is privileges:
        return shown[2]
    answer = _privileged(result, layout, list(privileges))
    view.shown_layout = (layout, privileges, answer)
    return answer


def _privileged(result: dict[str, Any], layout: dict[str, Any], privileges: list[str]) -> dict[str, Any]:
    meta = layout.get("qMeta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["privileges"] = privileges
    return {**result, "qLayout": {**layout, "qMeta": meta}}


def view_actions(user: UserPolicy, view: EntityView) -> frozenset[str]:
    """What ``user`` may do to the object behind an object handle (``view``: an EntityView), kept on the view
    with what decided it (the policy, the object's and the app's versions, the app's name and owner): every
    GetLayout of a dashboard asks, and the answer changes only when one of those does."""
    entity, app = view.entity, view.doc.app
    stamp = (user, entity.counter, app.props_version, app.title, app.owner)
    memo = view.access
    if memo is not None and memo[0] == stamp:
        return memo[1]
    resource = object_resource(view.doc, entity)
    actions = user.allowed_actions(resource)
    view.access = (stamp, actions, tuple(user.privileges(resource)))
    return actions


def session_policy(session: SessionLike) -> UserPolicy:
    """The policy a session made when it started (made now for a session that has none)."""
    user: UserPolicy | None = getattr(session, "policy", None)
    if user is None:
        user = session.engine.guard.policy_for(session.identity)
        session.policy = user
    return user


def describe(resource: Resource) -> str:
    if resource.resourcetype == APP:
        return f"app {resource.id}"
    kind = f"{resource.objecttype} object" if resource.objecttype else "object"
    return f"{kind} {resource.id}"


#: Resources last built for each loaded app and entity, with the versions they were built at: building one
#: hashes its attributes, so requests reuse it until the app's properties or the object change (bounded;
#: cleared when full).
_BY_APP: dict[int, tuple[Any, int, str, str, Resource]] = {}
_BY_ENTITY: dict[int, tuple[Any, int, Resource, Resource]] = {}
_CACHE_MAX = 4096


def app_resource(app: App) -> Resource:
    """A loaded app as the rules see it."""
    hit = _BY_APP.get(id(app))
    if (
        hit is not None
        and hit[0] is app
        and hit[1] == app.props_version
        and hit[2] == app.title
        and hit[3] == app.owner
    ):
        return hit[4]
    resource: Resource = app.facts().resource()
    if len(_BY_APP) >= _CACHE_MAX:
        _BY_APP.clear()
    _BY_APP[id(app)] = (app, app.props_version, app.title, app.owner, resource)
    return resource


def object_resource(doc: DocSession, entity: Entity) -> Resource:
    """An entity as an ``App.Object``: ``_objecttype`` from ``qInfo.qType`` (or its kind), the app's facts."""
    app = app_resource(doc.app)
    hit = _BY_ENTITY.get(id(entity))
    if hit is not None and hit[0] is entity and hit[1] == entity.counter and hit[2] is app:
        return hit[3]
    meta = entity.properties.get("qMetaDef")
    title = str((meta.get("title", "") if isinstance(meta, dict) else "") or "")
    objecttype = _KIND_TYPES.get(entity.kind) or entity.type
    resource = Resource.for_object(app, entity.id, objecttype, name=title)
    if len(_BY_ENTITY) >= _CACHE_MAX:
        _BY_ENTITY.clear()
    _BY_ENTITY[id(entity)] = (entity, entity.counter, app, resource)
    return resource


def _info_resource(app: Resource, info: Mapping[str, Any], meta: Any = None) -> Resource:
    title = meta.get("title", "") if isinstance(meta, dict) else ""
    return Resource.for_object(
        app, str(info.get("qId", "")), str(info.get("qType", "")), name=str(title or "")
    )


def _listed_app(call: Call, entry: Mapping[str, Any]) -> Resource:
    try:
        facts: AppFacts = call.engine.apps.facts(str(entry.get("qDocId", "")))
        return facts.resource()
    except QixError:
        return Resource.for_app(str(entry.get("qDocId", "")), str(entry.get("qTitle", "")))


def _doc_of(target: Any) -> Any:
    if type(target).__name__ == "DocSession":  # by name: engine.app.app imports this module
        return target
    return getattr(target, "doc", None)  # an EntityView, a FieldRef, a ScriptVariable


def _entity_of(target: Any) -> Any:
    return getattr(target, "entity", None)


def _find(doc: Any, object_id: str, objecttype: str | None) -> Any:
    app = doc.app
    stores: Iterable[Any]
    if objecttype is None:
        stores = (doc.session_objects, app.objects)
    elif objecttype == "dimension":
        stores = (app.dimensions,)
    elif objecttype == "measure":
        stores = (app.measures,)
    elif objecttype == "bookmark":
        stores = (app.bookmarks,)
    elif objecttype == "variable":
        for store in (app.variables, doc.session_variables):
            hit = store.get(object_id)
            if hit is not None:
                return hit
            for entity in store:
                if entity.properties.get("qName") == object_id:
                    return entity
        return None
    else:
        return None
    for store in stores:
        hit = store.get(object_id)
        if hit is not None:
            return hit
    return None


def check_section_access(identity: Identity, app: AppFacts, action: str, admin: bool) -> None:
    """Section access's part of a check (reading the data itself is reduced later, per user)."""
    table = app.section_access
    if table is None:
        return
    if not identity.authenticated:
        raise QixError(PERSONAL_SECTION_ACCESS, app.app_id)
    grant = grant_for(table, identity.user, identity.groups, ())
    if grant is None:
        raise QixError(ACCESS_DENIED, app.app_id)
    if admin and not grant.admin:
        raise QixError(ACCESS_DENIED, f"{action.capitalize()} of app {app.app_id} needs ADMIN access")
