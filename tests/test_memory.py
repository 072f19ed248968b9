"""The engine process's memory policy (engine.memory): freed big arrays leave the process, in a child
process of its own so this one's allocator is left alone."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import REPO

# Long-lived small blocks between 1 MiB temporaries, after a freed 16 MiB array raised glibc's mmap
# threshold: the temporaries come from the heap, and freeing them leaves the heap as big as before.
_CHILD = """
import sys
import numpy as np
import pyarrow as pa
from engine import memory

fixed = memory.configure() if sys.argv[1] == "1" else None

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
print(fixed, pa.default_memory_pool().backend_name, (resident() - base) >> 20)
"""


def _run(configure: bool) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _CHILD, "1" if configure else "0"], cwd=REPO, check=True,
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    return out.stdout.split()


def test_freed_temporaries_leave_the_process_and_arrow_uses_malloc() -> None:
    fixed, pool, resident = _run(True)
    assert fixed == "True" and pool == "system"
    assert int(resident) < 60           # the 25 MiB kept, not the 200 MiB of freed temporaries
    _, default_pool, default_resident = _run(False)
    assert default_pool != "system" and int(default_resident) > 150   # what the policy is for
