"""Import support for branches built before the load-script package landed.

``engine.app.reload`` and ``engine.rpc.doc`` import ``engine.script.{errors,progress,runner,syntax}``.
On a branch that does not have them yet, :func:`install` registers minimal modules under those names so
the server can be imported and the object tests can run; reloads then fail with a script error. Where the
real package exists this does nothing.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True


class ScriptError(Exception):
    def __init__(self, message: str, statement_text: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.statement_text = statement_text
        self.line = line


class ReloadCancelled(Exception):
    pass


class Progress:
    def __init__(self) -> None:
        self.statements = 0
        self._lock = threading.Lock()

    def drain(self) -> tuple[list[str], str]:
        return [], ""


@dataclass
class Connection:
    name: str
    connection_string: str = ""
    type: str = ""


@dataclass
class ScriptEnv:
    document_dir: Path | None = None
    connections: dict[str, Any] = field(default_factory=dict)
    max_rows: int = 0


def run_script(script: str, env: ScriptEnv, progress: Progress | None = None, cancel: Any = None) -> Any:
    raise ScriptError("The load-script runner is not part of this build")


def check_syntax(script: str) -> list:
    return []


def install() -> None:
    modules = {
        "engine.script.errors": {"ScriptError": ScriptError, "ReloadCancelled": ReloadCancelled},
        "engine.script.progress": {"Progress": Progress},
        "engine.script.runner": {"Connection": Connection, "ScriptEnv": ScriptEnv, "run_script": run_script},
        "engine.script.syntax": {"check_syntax": check_syntax},
    }
    for name, members in modules.items():
        if name in sys.modules or not _missing(name):
            continue
        module = types.ModuleType(name)
        module.__dict__.update(members)
        sys.modules[name] = module
