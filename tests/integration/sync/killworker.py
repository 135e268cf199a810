"""A clinic that takes readings and syncs them, forever: the kill -9 test's victim.

Run as ``python killworker.py HOME SEED RESIDENT,...``; prints ``ACK <reading id>`` after each COMMIT, and
``SYNC``/``DONE`` around each sync.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import resolve
from tests.support import PASSPHRASE, reading


def main() -> None:
    home, seed = resolve(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    agent = Agent.open(home)
    agent.unlock(actor="worker", passphrase=PASSPHRASE)
    people = sys.argv[3].split(",")
    while True:
        for _ in range(rng.randint(1, 4)):
            added = agent.store.readings.add(
                reading(rng.choice(people), systolic=str(rng.randint(90, 200))), actor="device"
            )
            print(f"ACK {added.id}", flush=True)
        print("SYNC", flush=True)
        asyncio.run(syncing.run_once(agent))
        print("DONE", flush=True)


if __name__ == "__main__":
    main()
