"""App endpoints of the REST API: read, change, delete, import, copy and export apps, data model metadata.

Every endpoint is gated twice, by the same :class:`~engine.app.guard.AppGuard` the QIX methods use: section
access (ADMIN for what changes or takes the app out) and the user's document rules, with the action
:func:`engine.app.permissions.for_endpoint` names. The transport already answered 401 (bad token) and 413
(a body over ``MaxRestBodySize``, unread) before a handler runs. An imported file is checked by loading it
from a temp file before anything is written as an app, and lands through the store's temp-file + rename.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.app import permissions, store
from engine.app.abac import RuleFileError
from engine.app.guard import AppFacts, AppGuard
from engine.app.permissions import Source
from engine.app.rules import APP, Resource
from engine.auth import Identity
from engine.errors import ACCESS_DENIED, PERSONAL_SECTION_ACCESS, QixError
from engine.transport import HttpError, Request, Response, Router

if TYPE_CHECKING:
    from engine.server import Engine

#: object types NxApp's ``create`` hints report
_CREATE_HINTS = ("sheet", "story", "bookmark", "dimension", "measure", "variable")


class AppsApi:
    """The handlers; ``engine`` is the running :class:`~engine.server.Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def guard(self) -> AppGuard:
        return self.engine.guard

    # -- checks -------------------------------------------------------------------------------------------------
    def _identity(self, request: Request) -> Identity:
        return request.identity if request.identity is not None else Identity.personal()

    def _facts(self, app_id: str) -> AppFacts:
        try:
            return self.engine.apps.facts(app_id)
        except QixError:
            raise HttpError(404, f"app not found: {app_id}") from None

    def _gate(self, request: Request, facts: AppFacts | None, new: Resource | None = None) -> None:
        """Every check ``permissions.for_endpoint`` names for this request; 403 on the first that fails."""
        identity = self._identity(request)
        try:
            match = permissions.for_endpoint(request.method, request.path)
        except permissions.Unclassified:
            match = None
        if match is None:  # a route of ours the table does not know: refused, never let through unchecked
            raise HttpError(403, "Access denied")
        for perm in match.checks:
            try:
                if perm.source is Source.NEW:
                    resource = new or Resource.for_app("", owner=identity.user)
                    self.guard.decide(identity, resource, perm.action).check()
                elif facts is not None and perm.kind == APP:
                    self.guard.check(identity, facts, perm.action)
            except QixError as err:
                if err.code in (ACCESS_DENIED, PERSONAL_SECTION_ACCESS):
                    raise HttpError(403, err.parameter or "Access denied") from None
                raise

    def _nx_app(self, identity: Identity, app_id: str) -> dict[str, Any]:
        facts = self._facts(app_id)
        path = self.engine.apps.path_of(app_id)
        doc = store.load(path, with_data=False)
        st = path.stat()
        user = self.guard.policy_for(identity)
        resource = facts.resource()
        return {
            "attributes": {
                "id": app_id,
                "name": doc.title or app_id,
                "owner": doc.owner,
                "description": str(doc.properties.get("description", "")),
                "createdDate": _iso(st.st_ctime),
                "modifiedDate": _iso(st.st_mtime),
                "lastReloadTime": doc.last_reload_time,
                "hasSectionAccess": doc.has_section_access,
                "thumbnail": "",
                "dynamicColor": "",
                "encrypted": False,
                "publishTime": "",
                "published": False,
                "custom": {},
                "_resourcetype": "App",
            },
            "privileges": user.privileges(resource),
            "create": [
                {
                    "resource": t,
                    "canCreate": user.allowed(
                        Resource.for_object(resource, "", t, owner=identity.user), "create"
                    ),
                }
                for t in _CREATE_HINTS
            ],
        }

    # -- endpoints ------------------------------------------------------------------------------------------------
    async def get_app(self, request: Request) -> Response:
        app_id = request.params["id"]
        facts = await asyncio.to_thread(self._facts, app_id)
        self._gate(request, facts)
        return Response.json(await asyncio.to_thread(self._nx_app, self._identity(request), app_id))

    async def put_app(self, request: Request) -> Response:
        app_id = request.params["id"]
        facts = await asyncio.to_thread(self._facts, app_id)
        self._gate(request, facts)
        body = await request.json()
        attrs = body.get("attributes") if isinstance(body, dict) else None
        if not isinstance(attrs, dict) or not all(
            isinstance(attrs.get(k, ""), str) for k in ("name", "description")
        ):
            raise HttpError(400, 'expected {"attributes": {"name": text, "description": text}}')

        def change() -> None:
            path = self.engine.apps.path_of(app_id)
            loaded = self.engine.apps.open_apps.get(app_id)
            if loaded is not None:
                with loaded.lock:
                    if attrs.get("name"):
                        loaded.title = attrs["name"]
                    if "description" in attrs:
                        loaded.properties["description"] = attrs["description"]
                    loaded.props_version += 1
                    loaded.save()
                return
            doc = store.load(path, with_data=True)
            if attrs.get("name"):
                doc.title = attrs["name"]
            if "description" in attrs:
                doc.properties["description"] = attrs["description"]
            store.save(path, doc)

        await asyncio.to_thread(change)
        return Response.json(await asyncio.to_thread(self._nx_app, self._identity(request), app_id))

    async def delete_app(self, request: Request) -> Response:
        app_id = request.params["id"]
        facts = await asyncio.to_thread(self._facts, app_id)
        self._gate(request, facts)
        if app_id in self.engine.apps.open_apps:
            raise HttpError(409, f"app {app_id} is open")
        await asyncio.to_thread(self.engine.apps.delete, app_id)
        return Response(200, b"")

    async def import_app(self, request: Request) -> Response:
        identity = self._identity(request)
        query = request.query_params()
        name = (query.get("name") or [""])[0]
        mode = (query.get("mode") or ["NEW"])[0].upper()
        if mode not in ("NEW", "AUTOREPLACE"):
            raise HttpError(400, "mode must be NEW or AUTOREPLACE")
        body = await request.read()
        doc = await asyncio.to_thread(_parse_app_file, body, self.engine.apps.document_dir)
        app_id = str(uuid.uuid4()) if mode == "NEW" else doc.app_id
        try:
            path = self.engine.apps.path_of(app_id)
        except QixError:
            raise HttpError(400, f"bad app id {app_id!r}") from None
        new = Resource.for_app(app_id, name or doc.title, identity.user)
        self._gate(request, None, new)
        if path.exists():
            if mode == "NEW":
                raise HttpError(409, f"app {app_id} exists")
            self.guard.check(identity, await asyncio.to_thread(self._facts, app_id), "update")
            if app_id in self.engine.apps.open_apps:
                raise HttpError(409, f"app {app_id} is open")
        doc.app_id, doc.owner = app_id, identity.user
        if name:
            doc.title = name
        await asyncio.to_thread(store.save, path, doc)
        return Response.json(await asyncio.to_thread(self._nx_app, identity, app_id))

    async def copy_app(self, request: Request) -> Response:
        identity = self._identity(request)
        app_id = request.params["id"]
        facts = await asyncio.to_thread(self._facts, app_id)
        new_id = str(uuid.uuid4())
        self._gate(request, facts, Resource.for_app(new_id, facts.name, identity.user))
        body = await request.read()
        attrs: Mapping[str, Any] = {}
        if body.strip():
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as err:
                raise HttpError(400, f"body is not JSON: {err}") from None
            attrs = parsed.get("attributes", {}) if isinstance(parsed, dict) else {}
            if not isinstance(attrs, dict):
                raise HttpError(400, "attributes must be an object")

        def copy() -> None:
            doc = store.load(self.engine.apps.path_of(app_id), with_data=True)
            doc.app_id, doc.owner = new_id, identity.user
            if isinstance(attrs.get("name"), str) and attrs["name"]:
                doc.title = attrs["name"]
            store.save(self.engine.apps.path_of(new_id), doc)

        await asyncio.to_thread(copy)
        return Response.json(await asyncio.to_thread(self._nx_app, identity, new_id))

    async def export_app(self, request: Request) -> Response:
        app_id = request.params["id"]
        facts = await asyncio.to_thread(self._facts, app_id)
        self._gate(request, facts)
        no_data = (request.query_params().get("NoData") or ["false"])[0].lower() == "true"
        data = await asyncio.to_thread(_export_bytes, self.engine.apps.path_of(app_id), no_data)
        return Response(
            200,
            data,
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", f'attachment; filename="{app_id}{store.SUFFIX}"'),
            ],
        )

    async def metadata(self, request: Request) -> Response:
        app_id = request.params["id"]
        facts = await asyncio.to_thread(self._facts, app_id)
        self._gate(request, facts)
        doc = await asyncio.to_thread(store.load, self.engine.apps.path_of(app_id), True)
        return Response.json(_metadata(doc))

    async def privileges(self, request: Request) -> Response:
        identity = self._identity(request)
        user = self.guard.policy_for(identity)
        return Response.json(user.privileges(Resource.for_app("", owner=identity.user)))

    async def reload_rules(self, request: Request) -> Response:
        """Re-read the rule files: allowed to whoever the rules let ``update`` the engine's rules resource
        (``resource._resourcetype = "App" and resource.id = "rules"``), or to everyone with ABAC off."""
        identity = self._identity(request)
        if self.guard.enabled:
            if not self.guard.policy_for(identity).allowed(Resource.for_app("rules", "rules"), "update"):
                raise HttpError(403, "Access denied to reload the rules")
            try:
                policy = await asyncio.to_thread(self.guard.reload_rules)
            except RuleFileError as err:  # the old rules stay in force
                raise HttpError(400, str(err)) from None
            count = policy.rule_count if policy is not None else 0
            return Response.json({"reloaded": True, "rules": count})
        return Response.json({"reloaded": False, "rules": 0})


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def _parse_app_file(body: bytes, directory: Path) -> store.AppDocument:
    """Load ``body`` as an app file from a private temp file: anything but an app is 400, never written."""
    if not body:
        raise HttpError(400, "empty body: expected an app file")
    fd, name = tempfile.mkstemp(prefix=".import-", suffix=f"-{secrets.token_hex(4)}")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        try:
            return store.load(Path(name), with_data=True)
        except (QixError, OSError, ValueError):
            raise HttpError(400, "body is not an app file") from None
    finally:
        os.unlink(name)


def _export_bytes(path: Path, no_data: bool) -> bytes:
    if not no_data:
        return path.read_bytes()
    doc = store.load(path, with_data=False)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"export{store.SUFFIX}"
        store.save(out, doc)
        return out.read_bytes()


def _metadata(doc: store.AppDocument) -> dict[str, Any]:
    """``DataModelMetadata``: fields, tables, reload metadata and the section-access flag."""
    model = doc.model
    fields: list[dict[str, Any]] = []
    tables: list[dict[str, Any]] = []
    if model is not None:
        for fname, fld in model.fields.items():
            size = sum(len(str(t).encode()) for t in fld.symbols.texts().tolist())
            fields.append(
                {
                    "name": fname,
                    "src_tables": list(model.field_tables.get(fname, ())),
                    "is_system": fld.is_system,
                    "is_hidden": fld.is_hidden,
                    "is_semantic": False,
                    "distinct_only": False,
                    "cardinal": fld.cardinal,
                    "total_count": fld.cardinal,
                    "is_locked": False,
                    "always_one_selected": False,
                    "is_numeric": False,
                    "comment": fld.comment,
                    "tags": list(fld.tags),
                    "byte_size": size,
                }
            )
        for tname, table in model.tables.items():
            tfields = [f for f, ts in model.field_tables.items() if tname in ts]
            tables.append(
                {
                    "name": tname,
                    "is_system": False,
                    "is_semantic": False,
                    "is_loose": False,
                    "no_of_rows": table.nrows,
                    "no_of_fields": len(tfields),
                    "no_of_key_fields": sum(f in model.key_fields for f in tfields),
                    "comment": table.comment,
                    "byte_size": int(table.nrows) * 4 * len(tfields),
                }
            )
    return {
        "reload_meta": {
            "cpu_time_spent_ms": 0,
            "hardware": {"logical_cores": os.cpu_count() or 1, "total_memory": 0},
            "peak_memory_bytes": 0,
        },
        "static_byte_size": sum(t["byte_size"] for t in tables) + sum(f["byte_size"] for f in fields),
        "fields": fields,
        "tables": tables,
        "has_section_access": doc.has_section_access,
    }


def register(router: Router, engine: Engine) -> AppsApi:
    """Add the REST routes to ``router``."""
    api = AppsApi(engine)
    router.add("GET", "/v1/apps/privileges", api.privileges)
    router.add("POST", "/v1/apps/import", api.import_app)
    router.add("GET", "/v1/apps/{id}", api.get_app)
    router.add("PUT", "/v1/apps/{id}", api.put_app)
    router.add("DELETE", "/v1/apps/{id}", api.delete_app)
    router.add("POST", "/v1/apps/{id}/copy", api.copy_app)
    router.add("GET", "/v1/apps/{id}/export", api.export_app)
    router.add("GET", "/v1/apps/{id}/data/metadata", api.metadata)
    router.add("POST", "/v1/rules/reload", api.reload_rules)
    return api
