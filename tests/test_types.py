"""mypy --strict over the modules ``setup.cfg``'s ``[mypy]`` section lists: part of the suite, so CI runs it."""

from __future__ import annotations

import pytest

from tests.harness import REPO

api = pytest.importorskip("mypy.api")


def test_strictly_typed_modules_pass_mypy() -> None:
    out, err, status = api.run(["--config-file", str(REPO / "setup.cfg"), "--no-incremental",
                                "--cache-dir", "/dev/null"])
    assert status == 0, out + err
