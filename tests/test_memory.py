"""The engine process's memory (engine.memory): freed heap memory leaves the process on release(), in a
child process of its own so this one's allocator is left alone."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import REPO

# Long-lived blocks between 1 MiB temporaries, after a freed 16 MiB array raised glibc's mmap threshold:
# the temporaries come from the heap, and freeing them leaves the heap as big as before.
_CHILD = """
import sys
import numpy as np
import pyarrow as pa
from engine import memory

memory.configure()

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

base = resident()
big = np.ones(2 << 20)
del big
keep, tmp = [], []
for _ in range(200):
    tmp.append(np.ones(1 << 17))
    keep.append(np.ones(1 << 14))
del tmp
kept = (resident() - base) >> 20
memory.release()
print(pa.default_memory_pool().backend_name, kept, (resident() - base) >> 20)
"""


def test_release_gives_freed_heap_memory_back_and_arrow_uses_malloc() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    ).stdout.split()
    pool, kept, released = out[0], int(out[1]), int(out[2])
    assert pool == "system"
    assert kept > 150  # the pattern: 200 MiB of freed temporaries still resident...
    assert released < 60  # ...until release(): the 25 MiB still in use stay
