"""LOADs over a streamed file run batch by batch (engine.script.batches) and give exactly the model the
same script gives with the file read whole: plain loads, field lists, WHERE, preceding LOADs, RecNo/RowNo,
DISTINCT, FIRST, WHILE, SubField, AutoNumber, ApplyMap, Exists; chains that need every row at once
fall back to reading the file whole, as does a text file found irregular half way."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.script import batches
from engine.script.paths import Connection
from engine.script.runner import ScriptEnv, run_script
from engine.sources import text
from tests.streaming import batches_of, content, read_whole, write_files

ROWS = 3000
CSV = "[lib://d/orders.csv] (txt, utf8, embedded labels, delimiter is ';')"
PARQUET = "[lib://d/orders.parquet] (parquet)"
HEAD = "SET DateFormat='YYYY-MM-DD';\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("batches")
    write_files(d, ROWS)
    return d


def _load(folder: Path, script: str) -> dict:
    env = ScriptEnv(
        document_dir=folder, connections={"d": Connection("d", str(folder), "folder")}, legacy_paths=False
    )
    return content(run_script(HEAD + script, env).model)


def _batch_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batches each batch-by-batch LOAD ran over (one entry per such LOAD)."""
    counts: list[int] = []
    real = batches.load_batches

    def spy(runner, chain, stream, file_path):
        counts.append(0)

        def counted():
            for b in stream:
                counts[-1] += 1
                yield b

        return real(runner, chain, counted(), file_path)

    monkeypatch.setattr(batches, "load_batches", spy)
    return counts


def _both(
    folder: Path, script: str, monkeypatch: pytest.MonkeyPatch, **knobs: int
) -> tuple[dict, dict, list[int]]:
    counts = _batch_counter(monkeypatch)
    with batches_of(monkeypatch, **knobs), monkeypatch.context() as m:
        m.setattr(batches, "COMPUTE_ROWS", 17)  # computing chains: several slices of each batch
        streamed = _load(folder, script)
    seen = list(counts)
    with read_whole(monkeypatch):
        whole = _load(folder, script)
    return streamed, whole, seen


ROW_BY_ROW = {
    "plain": "T: LOAD * FROM {src};",
    "fields": "T: LOAD Id AS OrderId, Amount, Code, Name, Day, Key FROM {src};",
    "expressions and where": "T: LOAD Id, Amount * 2 AS Twice, Upper(Name) AS Upper, Year(Day) AS Year, "
    "Code & '-' & Key AS Both, Len(Note) AS L FROM {src} WHERE Amount > 100 OR IsNull(Amount);",
    "preceding loads": "T: LOAD *, RowNo() AS Row, Twice + 1 AS More;\nLOAD Id, Amount * 2 AS Twice, RecNo() AS Rec, "
    "Day FROM {src} WHERE Mod(Id, 3) <> 0;",
    "read above a rename": "T: LOAD C & '!' AS Marked, *;\nLOAD Id, Code AS C FROM {src};",
    "distinct on top": "T: LOAD DISTINCT Code, Year(Day) AS Year FROM {src};",
    "first": "T: FIRST 700 LOAD Id, Key, RecNo() AS Rec FROM {src} WHERE Mod(Id, 2) = 0;",
    "while": "T: LOAD Id, IterNo() AS I FROM {src} WHILE IterNo() <= Mod(Id, 3);",
    "subfield": "T: LOAD Id, SubField(Name, ' ') AS Part FROM {src};",
    "autonumber, applymap, exists": "M: MAPPING LOAD * INLINE [k, v\n1, one\n2, two];\nK: LOAD * INLINE [Code\n3\nx1];\n"
    "T: LOAD Id, AutoNumber(Key) AS KeyNo, ApplyMap('M', Code, 'other') AS Mapped, "
    "If(Exists(Code), 'yes', 'no') AS Known FROM {src};",
}


@pytest.mark.parametrize("source", [CSV, PARQUET], ids=["csv", "parquet"])
@pytest.mark.parametrize("case", list(ROW_BY_ROW))
def test_row_by_row_chains_stream_and_equal_the_whole_file(folder, monkeypatch, source, case) -> None:
    streamed, whole, seen = _both(folder, ROW_BY_ROW[case].format(src=source), monkeypatch)
    assert seen and seen[-1] > 10, seen  # it did run batch by batch, over many batches
    assert streamed == whole


def test_big_pieces_take_the_numeric_path_per_batch(tmp_path, monkeypatch) -> None:
    """Pieces of ~5000 rows: ids and amounts are cast as numbers batch by batch (engine.sources.columns.numeric_column)."""
    write_files(tmp_path, 12_000)
    calls: list[bool] = []
    real = text.numeric_column
    monkeypatch.setattr(
        text, "numeric_column", lambda col, dp: calls.append(real(col, dp) is not None) or real(col, dp)
    )
    script = f"T: LOAD *, Amount + 1 AS More FROM {CSV};"
    streamed, whole, seen = _both(tmp_path, script, monkeypatch, block_bytes=1 << 18)
    assert seen == [3] and streamed == whole
    assert calls.count(True) >= 2  # ids, in each batch of at least 4096 rows


NEED_ALL_ROWS = {
    "group by": "T: LOAD Code, Sum(Amount) AS S, Count(Id) AS N FROM {src} GROUP BY Code;",
    "previous": "T: LOAD Id, Previous(Amount) AS Before FROM {src};",
    "rowno with where": "T: LOAD Id, RowNo() AS Row FROM {src} WHERE Amount > 0;",
    "distinct below": "T: LOAD *, 1 AS One;\nLOAD DISTINCT Code FROM {src};",
}


@pytest.mark.parametrize("case", list(NEED_ALL_ROWS))
def test_chains_that_need_every_row_read_the_file_whole(folder, monkeypatch, case) -> None:
    streamed, whole, seen = _both(folder, NEED_ALL_ROWS[case].format(src=CSV), monkeypatch)
    assert seen == []
    assert streamed == whole


def test_text_file_irregular_half_way_starts_over_whole(tmp_path, monkeypatch) -> None:
    """A ragged record far into the file: the batches read so far are dropped and the whole-file reader
    (which pads short records) gives the model; AutoNumber numbers as if the batches had not run."""
    write_files(tmp_path, ROWS)
    lines = (tmp_path / "orders.csv").read_text().splitlines()
    lines[2500] = lines[2500].rsplit(";", 2)[0]  # two values short
    (tmp_path / "orders.csv").write_text("\n".join(lines) + "\n")
    script = "A: LOAD AutoNumber(Code) AS N INLINE [Code\nq\nr];\nT: LOAD Id, AutoNumber(Code) AS N, Note FROM {src};"
    streamed, whole, seen = _both(tmp_path, script.format(src=CSV), monkeypatch)
    assert seen and seen[0] > 10  # it started batch by batch...
    assert streamed == whole  # ...and gave what reading whole gives
    notes = streamed["tables"]["T"][1]["Note"]
    assert notes[2499] == (None, None) and notes[2498] != (None, None)  # the short record's Note: NULL
