"""Helpers for the cluster tests: :class:`scripts.cluster.Cluster` (real engine processes, real HAProxy)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from types import ModuleType

from tests.harness import REPO


def _load_cluster() -> ModuleType:
    name = "qix_cluster_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


cluster_script = _load_cluster()
Cluster = cluster_script.Cluster

#: HAProxy is here, or can be installed (as root: scripts/cluster.py runs apt-get, as .ci/run does)
HAPROXY_AVAILABLE = bool(shutil.which("haproxy") or os.access("/usr/sbin/haproxy", os.X_OK) or os.geteuid() == 0)
