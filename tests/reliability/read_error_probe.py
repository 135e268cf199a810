"""A child for the I/O-error tests: one EIO on the next read of the database, then report what the store said.

Run under ``fiu-run -x`` (so libfiu's POSIX wrappers are loaded) with the project's venv python:
``python tests/reliability/read_error_probe.py --home DIR``. It opens the store unlocked with the machine
key on a fresh connection (nothing cached), makes the next ``pread`` fail once with EIO through libfiu,
reads every unassigned reading, then reads them again with no fault and runs integrity_check. Output:

    READ <outcome>          OK, or the store error's class and the SQLite error behind it
    AGAIN <outcome>         the same read once the fault has passed
    INTEGRITY <result>      integrity_check afterwards ("ok" when the file is sound)
"""

from __future__ import annotations

import argparse
import ctypes
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from clinic_agent.core.errors import ClinicAgentError  # noqa: E402
from clinic_agent.runtime.home import open_locked, open_vault, resolve  # noqa: E402
from clinic_agent.store import Store  # noqa: E402

EIO = 5
FIU_ONETIME = 1


def read_all(store: Store) -> str:
    """Read every unassigned reading; name the error if the store raised one."""
    try:
        readings, problems = store.readings.unassigned(limit=1_000_000)
    except ClinicAgentError as exc:
        cause = getattr(exc.__cause__, "sqlite_errorname", "-")
        return f"{type(exc).__name__} {cause} {exc.message}"
    return f"OK {len(readings)} readings, {len(problems)} problems"


def again_and_close(store: Store) -> None:
    """Read once more with no fault, run integrity_check, report both (AGAIN, INTEGRITY) and close."""
    print("AGAIN", read_all(store), flush=True)
    print("INTEGRITY", store.integrity_check(), flush=True)
    store.close()


def main() -> int:
    """Fail one read, report, read again, check."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fiu = ctypes.CDLL("libfiu.so.0")
    fiu.fiu_enable.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]
    fiu.fiu_disable.argtypes = [ctypes.c_char_p]
    home = resolve(args.home)
    store, keyfile = open_locked(home)
    store.unlock(open_vault(home, keyfile).keyring, actor="probe")
    store.close()
    store, keyfile = open_locked(home)  # a fresh connection: the next page read goes to the disk
    store.unlock(open_vault(home, keyfile).keyring, actor="probe")
    fiu.fiu_enable(b"posix/io/rw/pread", 1, EIO, FIU_ONETIME)
    first = read_all(store)
    fiu.fiu_disable(b"posix/io/rw/pread")
    print("READ", first, flush=True)
    again_and_close(store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
