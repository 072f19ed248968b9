"""The one access check every app-level operation goes through: section access first, then document rules.

Opening, deleting, copying, exporting or importing an app, changing its script, connections or properties,
reloading and saving all ask :meth:`AppGuard.check` with an action name, so no operation can forget a
check its siblings make. Section access decides with the app's security table alone (no data needed):
any row that applies lets a user read; the actions that change or copy the app out need ADMIN. A
document-level policy (ABAC rules), when the engine has one, is asked next and may deny on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from engine.app.access import grant_for
from engine.auth import Identity
from engine.errors import ACCESS_DENIED, PERSONAL_SECTION_ACCESS, QixError

#: actions as Qlik's access rules name them
READ, CREATE, UPDATE, RELOAD, DELETE = "read", "create", "update", "reload", "delete"
IMPORT, EXPORT, EXPORT_DATA = "import", "export", "export data"

#: actions that change the app or take it out whole: ADMIN only on an app with section access
ADMIN_ACTIONS = frozenset({UPDATE, RELOAD, DELETE, IMPORT, EXPORT})


@dataclass(frozen=True)
class AppFacts:
    """What a check needs to know of an app, whether it is loaded or only on disk."""

    app_id: str
    section_access: Mapping[str, Any] | None = None
    owner: str = ""
    name: str = ""


class DocumentPolicy(Protocol):
    """Document-level access control: may this user do ``action`` to the app?"""

    def allows_app(self, identity: Identity, app: AppFacts, action: str) -> bool: ...


class AppGuard:
    """Section access, then the document policy (when the engine has one)."""

    def __init__(self, policy: DocumentPolicy | None = None) -> None:
        self.policy = policy

    def check(self, identity: Identity, app: AppFacts, action: str, *, script: bool = False) -> None:
        """Return when allowed; raise 5 (Access denied), or 12002 for a section-access app without JWTs.

        ``script``: the operation shows the load script (which names every reduction), so section access
        wants ADMIN even for reading it.
        """
        check_section_access(identity, app, action, admin=script or action in ADMIN_ACTIONS)
        if self.policy is not None and not self.policy.allows_app(identity, app, action):
            raise QixError(ACCESS_DENIED, f"Access denied to {action} app {app.app_id}")

    def allows(self, identity: Identity, app: AppFacts, action: str) -> bool:
        try:
            self.check(identity, app, action)
        except QixError:
            return False
        return True


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
