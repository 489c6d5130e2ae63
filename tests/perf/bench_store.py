"""Store throughput: events/s sustained through the bus and the batched writer into SQLite.

Reports wall time and CPU time (the whole process, the writer's thread included): the
machine is shared, and CPU time is what the code itself costs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from workbench.mesh.bus import EventBus
from workbench.mesh.events import Event
from workbench.store.db import Store
from workbench.store.writer import EventWriter

TARGET_EVENTS_PER_S = 100_000


def measure(n: int = 200_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.create_session(id="bench", crew_name="bench", engine="autogen", topology="network")
        writer = EventWriter(store)
        bus = EventBus("bench")
        bus.subscribe(writer.put)
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(n):
            bus.publish(Event("message", "analyst", "lead", "The market is about 25M EUR a year.",
                              {"turn": i}))
        published = time.perf_counter() - started
        cpu_published = time.process_time() - cpu_started
        writer.close(timeout=300)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        stored = store.count_events("bench")
        store.close()
    rate = stored / elapsed
    cpu_rate = stored / cpu if cpu else 0.0
    return {
        "events": stored,
        "publish_s": round(published, 3),
        "publish_cpu_s": round(cpu_published, 3),
        "stored_s": round(elapsed, 3),
        "stored_cpu_s": round(cpu, 3),
        "events_per_s": round(rate),
        "events_per_cpu_s": round(cpu_rate),
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "meets_target": rate >= TARGET_EVENTS_PER_S and stored == n,
    }


if __name__ == "__main__":
    print(measure())
