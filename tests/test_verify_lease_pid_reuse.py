"""A killed run's process id taken by another program (pid reuse) does not keep its session
running, nor its request approvable: a process that began after the run did is not its
owner."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.store.db import Store

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def test_a_process_that_began_after_the_run_is_not_its_owner(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'wb.db'}")
    now = time.time()
    newcomer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # a run started ten minutes ago whose process id now names a program just started
        store.create_session(id="reused", crew_name="c", engine="autogen", topology="star",
                             started_at=now - 600, owner_pid=newcomer.pid)
        # a run the newcomer itself started (after it began): its owner, still alive
        store.create_session(id="owned", crew_name="c", engine="autogen", topology="star",
                             started_at=time.time() + 1, owner_pid=newcomer.pid)
        assert store.reap_lapsed_sessions() == ["reused"]
        row = store.get_session("reused")
        assert row["status"] == "interrupted"
        assert f"process {newcomer.pid} ended" in row["error"]
        assert "another program" in row["error"]
        assert store.get_session("owned")["status"] == "running"
    finally:
        newcomer.kill()
        newcomer.wait()
        store.close()
