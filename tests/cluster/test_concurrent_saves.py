"""Several processes saving one app at once, and kill -9 at random moments: every save is whole, the file
is never missing or mixed, the later save wins, and the losing engine's sessions are told."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from engine.app import store
from engine.app.store import AppDocument
from engine.model.datamodel import DataModel, Field, Table
from engine.model.symbols import SymbolTable
from tests.cluster.conftest import Cluster
from tests.harness import REPO, Client

ROWS = 300_000


def writer_doc(writer: int, seq: int) -> AppDocument:
    """A document whose every part names (writer, seq), so a mix of two saves cannot pass the check."""
    title = f"w{writer}-{seq}"
    base = float(writer * 1_000_000 + seq)
    syms = SymbolTable(np.arange(8, dtype=np.float64) + base, np.array([f"{title}/{i}" for i in range(8)],
                                                                      dtype=object))
    codes = (np.arange(ROWS) % 8).astype(np.int32)
    model = DataModel([Table("T", {"F": codes}, ROWS)], {"F": Field("F", syms)})
    return AppDocument(app_id="race", title=title, script=f"// {title}", properties={"qTitle": title},
                       objects=[{"qProperty": {"qInfo": {"qId": title, "qType": "mark"}}}], model=model)


def check_whole(doc: AppDocument) -> str:
    title = doc.title
    writer, seq = (int(x) for x in title[1:].split("-"))
    assert doc.script == f"// {title}" and doc.properties == {"qTitle": title}
    assert [o["qProperty"]["qInfo"]["qId"] for o in doc.objects] == [title]
    assert doc.model is not None
    f = doc.model.fields["F"].symbols
    assert f.num[0] == writer * 1_000_000 + seq and f.text[7] == f"{title}/7"
    assert doc.model.tables["T"].nrows == ROWS
    return title


_WRITER = """
import sys
from pathlib import Path
from engine.app import store
from tests.cluster.test_concurrent_saves import writer_doc
path, writer = Path(sys.argv[1]), int(sys.argv[2])
seq = 0
print("READY", flush=True)
while True:
    seq += 1
    store.save(path, writer_doc(writer, seq))
"""


def spawn_writer(path: Path, writer: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(writer)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
    return proc


def test_concurrent_writers_killed_at_random_never_leave_a_missing_or_mixed_file(tmp_path):
    path = tmp_path / "race.qvf"
    store.save(path, writer_doc(0, 0))
    rnd = random.Random(7)
    writers = {k: spawn_writer(path, k) for k in (1, 2, 3)}
    seen: set[str] = set()
    problems: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.add(check_whole(store.load(path)))
            except Exception as exc:  # a missing, unreadable or mixed file
                problems.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    kills = 0
    try:
        for _ in range(5):  # a writer takes a second or so to start: five kills, at random moments
            time.sleep(rnd.uniform(0.05, 0.6))
            k = rnd.choice(list(writers))
            writers[k].send_signal(signal.SIGKILL)
            writers[k].wait(10)
            kills += 1
            writers[k] = spawn_writer(path, k)
    finally:
        stop.set()
        reader.join(30)
        for proc in writers.values():
            proc.kill()
            proc.wait(10)
            assert proc.stdout is not None
            proc.stdout.close()
    assert problems == []
    assert kills >= 5
    assert {t.split("-")[0] for t in seen} >= {"w1", "w2", "w3"}  # every writer's saves got through
    # temp files of the killed saves: none left once cleaned, and the app file itself survives
    store.clean_temp_files(tmp_path)
    assert os.listdir(tmp_path) == ["race.qvf"]
    check_whole(store.load(path))


def test_two_engines_saving_at_once_the_later_wins_and_the_loser_is_told(tmp_path):
    interval = 0.5

    async def scenario(cluster: Cluster) -> None:
        async with Client.open(cluster.engine_url(0) + "/app/engineData") as ca, \
                Client.open(cluster.engine_url(1) + "/app/engineData") as cb:
            await ca.call("CreateApp", -1, "race")
            docs = {}
            for name, c in (("A", ca), ("B", cb)):
                docs[name] = (await c.call("OpenDoc", -1, "race"))["qReturn"]["qHandle"]
            for rnd in range(4):
                objs = {}
                for name, c in (("A", ca), ("B", cb)):
                    doc = docs[name]
                    await c.call("SetAppProperties", doc, {"qTitle": f"{name}{rnd}"})
                    objs[name] = (await c.call("CreateObject", doc, {"qInfo": {"qId": f"{name}{rnd}",
                                                                              "qType": "x"}}))["qReturn"]["qHandle"]
                    await c.call("GetLayout", objs[name])
                    await c.call("GetAppLayout", doc)
                ca.pushes.clear()
                cb.pushes.clear()
                # both at once: whichever rename came last is the file, whole; which one that is, the file says
                # (a fixed winner would need the engines' clocks, or a second save that races the poller)
                await asyncio.gather(ca.call("DoSave", docs["A"]), cb.call("DoSave", docs["B"]))
                saved = store.load(tmp_path / "race.qvf", with_data=False)
                assert saved.title in (f"A{rnd}", f"B{rnd}")
                winner = saved.title[0]
                loser = "B" if winner == "A" else "A"
                ids = {o["qProperty"]["qInfo"]["qId"] for o in saved.objects}
                assert f"{winner}{rnd}" in ids and f"{loser}{rnd}" not in ids
                # within the interval (+1 s) the loser's session hears of the winner's version
                lc, wc = (ca, cb) if loser == "A" else (cb, ca)
                deadline = time.monotonic() + interval + 1
                closed = changed = False
                while not (closed and changed):
                    push = await lc.wait_push(max(0.01, deadline - time.monotonic()))
                    closed = closed or objs[loser] in push.get("close", [])
                    changed = changed or docs[loser] in push.get("change", [])
                assert (await lc.call("GetAppLayout", docs[loser]))["qLayout"]["qTitle"] == saved.title
                assert wc.pushes == []  # the winner's session has nothing to hear

    with Cluster(engines=2, document_dir=tmp_path, polling_interval=interval, proxy=False) as cluster:
        asyncio.run(asyncio.wait_for(scenario(cluster), 120))
