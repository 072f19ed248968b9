"""Exists() with a field-name argument that evaluates to NULL names no field: the error says so
without a Python ``None`` leaking into the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.script.errors import ScriptError
from engine.script.runner import ScriptEnv, run_script


def test_exists_of_a_null_name_is_an_unknown_empty_field_name() -> None:
    script = "A: LOAD * INLINE [x\n1\n2];\nC: LOAD x AS z INLINE [x\n2\n5] WHERE Exists(Null());"
    with pytest.raises(ScriptError) as e:
        run_script(script, ScriptEnv(document_dir=Path("/nonexistent-doc-dir")))
    assert "Field '' not found" in e.value.message
    assert "None" not in e.value.message
