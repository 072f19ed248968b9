"""The deployment files: docker-compose.cluster.yml (parsed; docker is not run here) and the HAProxy
configuration (checked by haproxy itself, as deployed and as scripts/cluster.py rewrites it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import cluster_script
from tests.harness import REPO

COMPOSE = REPO / "docker-compose.cluster.yml"
HAPROXY_CFG = REPO / "deploy" / "haproxy" / "haproxy.cfg"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)


def test_compose_file_runs_a_proxy_and_three_engines_on_one_volume():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    engines = {name: s for name, s in services.items() if name.startswith("engine")}
    assert sorted(engines) == ["engine1", "engine2", "engine3"]
    mounts = set()
    for s in engines.values():
        command = s["command"]
        assert "EnableFilePolling=1" in command and "ValidateJsonWebTokens=2" in command
        apps = [v for v in s["volumes"] if v.startswith("apps:")]
        assert len(apps) == 1
        mounts.add(apps[0])
        assert s["stop_grace_period"] == "40s"  # longer than the engine's 30 s drain
    assert mounts == {"apps:/home/engine/Qlik/Sense/Apps"} and "apps" in spec["volumes"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("haproxy:")
    assert "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    assert "9076:9076" in proxy["ports"]
    # the proxy's server lines name exactly these services on the engine port
    servers = [line.split()[1:3] for line in HAPROXY_CFG.read_text().splitlines() if line.strip().startswith("server ")]
    assert servers == [[name, f"{name}:9076"] for name in sorted(engines)]


@pytest.mark.skipif(HAPROXY is None, reason="needs haproxy (apt-get install haproxy)")
@pytest.mark.parametrize("local", [False, True], ids=["as-deployed", "scripts-cluster"])
def test_haproxy_accepts_the_configuration(tmp_path, local):
    cfg = HAPROXY_CFG.read_text()
    if local:
        cfg = cluster_script.render_config(cfg, 19076, [("engine1", 19077), ("engine2", 19078)], 18404)
        assert "resolvers" not in cfg and "127.0.0.1:19077" in cfg
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    check = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ALERT" not in check.stdout + check.stderr
