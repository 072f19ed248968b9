"""Big delimited files stream block by block and give exactly what the whole-file reader gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.expr.formatting import interpret_texts
from engine.script.paths import Connection
from engine.script.runner import ScriptEnv, run_script
from engine.script.textfile import read_text
from engine.sources import text
from engine.sources.spec import FormatSpec


def _csv(path: Path, rows: int) -> Path:
    lines = ["\ufeffId;Name;Amount;Day;Code"]
    for i in range(rows):
        lines.append(
            f"{i};  name {i % 37} ;{i * 0.25:.2f};2021-{1 + i % 12:02d}-{1 + i % 28:02d};"
            f"{'00' + str(i % 5) if i % 3 else i % 5}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _values(names, columns) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for name, (sym, codes) in zip(names, columns, strict=True):
        num, txt = np.append(sym.num, np.nan), np.append(sym.text, None)
        nums = [None if x != x else x for x in num.take(codes).tolist()]  # NaN → None: comparable
        out[name] = list(zip(txt.take(codes).tolist(), nums, strict=True))
    return out


def test_streamed_equals_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "BLOCK_BYTES", 4096)  # many blocks
    path = _csv(tmp_path / "big.csv", 3000)
    spec = FormatSpec(encoding="utf-8")
    blocks: list[int] = []
    streamed = text.read_stream(path, spec, interpret_texts, 10**6, "csv", blocks.append)
    whole = read_text(path.read_bytes(), spec, interpret_texts, 10**6, "csv")
    assert len(blocks) > 10 and blocks[-1] == 3000
    assert streamed.names == whole.names == ["Id", "Name", "Amount", "Day", "Code"]
    a, b = _values(streamed.names, streamed.columns), _values(whole.names, whole.columns)
    for name in streamed.names:
        assert a[name] == b[name], name
    assert a["Code"][:3] == [("0", 0.0), ("001", 1.0), ("002", 2.0)]  # duals merged across blocks


def test_irregular_files_are_not_streamed(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n" * 2)
    with pytest.raises(text.NotStreamable):
        text.read_stream(tmp_path / "ragged.csv", FormatSpec(), interpret_texts, 100)
    (tmp_path / "quoted.csv").write_text('a,b\n1, "x, y"\n2,3\n')
    with pytest.raises(text.NotStreamable):
        text.read_stream(tmp_path / "quoted.csv", FormatSpec(), interpret_texts, 100)


def test_runner_streams_big_files_and_falls_back_for_irregular_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "STREAM_BYTES", 1)
    monkeypatch.setattr(text, "BLOCK_BYTES", 4096)
    _csv(tmp_path / "big.csv", 2000)
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    calls: list[str] = []
    for name in ("batches", "read_stream"):
        real = getattr(text, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(text, name, spy)
    env = ScriptEnv(
        document_dir=tmp_path, connections={"d": Connection("d", str(tmp_path), "folder")}, legacy_paths=False
    )
    r = run_script(
        "B: LOAD * FROM [lib://d/big.csv] (txt, utf8, delimiter is ';');\n"
        "R: LOAD * FROM [lib://d/ragged.csv] (txt);",
        env,
    )
    assert calls == ["batches", "batches"]  # the ragged file is tried once, then read whole
    assert r.model.tables["B"].nrows == 2000 and r.model.tables["R"].nrows == 2
