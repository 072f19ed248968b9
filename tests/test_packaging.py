"""Packaging: the compose file's command goes through the engine's own parser; the image's entrypoint exists."""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys

import yaml

from engine.settings import parse_args
from tests.harness import REPO


def test_compose_command_parses(tmp_path):
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service = compose["services"]["qix-engine"]
    argv = shlex.split(service["command"])
    # the container's document folder does not exist here: point it at a temp dir, keep the rest
    argv = [a if not a.startswith("DocumentDirectory=") else f"DocumentDirectory={tmp_path}" for a in argv]
    settings = parse_args(argv)
    assert settings.validate_json_web_tokens == 2
    assert settings.json_web_token_secret == "passw0rd"
    assert settings.accept_eula is True
    assert {"9076:9076", "9090:9090"} <= set(service["ports"])


def test_dockerfile_entrypoint_module_exists():
    text = (REPO / "Dockerfile").read_text()
    entry = next(line for line in text.splitlines() if line.startswith("ENTRYPOINT"))
    args = json.loads(entry.split(None, 1)[1])
    assert args[:3] == ["python", "-m", "engine"]
    assert importlib.util.find_spec("engine.__main__") is not None
    assert "USER 1910:1910" in text and "EXPOSE 9076 9090" in text
    # the entrypoint's own -S arguments are valid settings
    out = subprocess.run([sys.executable, "-m", "engine", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "DocumentDirectory" in out.stdout


def test_console_script_declared():
    cfg = (REPO / "setup.cfg").read_text()
    assert "qix-engine = engine.cli:main" in cfg
