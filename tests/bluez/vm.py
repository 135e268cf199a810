"""The BlueZ test VM, from the host: built once from Debian packages (cached in .cache/bluez-vm, git-ignored),
then booted under qemu for each run of tests/bluez/guest.

Why a VM: a clinic PC runs bleak's BlueZ backend, which needs bluetoothd and a kernel with Bluetooth;
a CI container usually has neither (no CONFIG_BT, no /dev/vhci). The VM has both, and its hci0 is a
bumble controller on /dev/vhci sharing a link with the emulated devices (tests/bluez/guest).

qemu runs with TCG (pure emulation): it works wherever qemu does, nested KVM or not. The guest sees the
repository and this interpreter's site-packages read-only over 9p at their host paths, so it runs the
working tree with the same bleak and bumble; it writes its log, pytest's JUnit XML and bluetoothd's log
to a third, writable share.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / ".cache" / "bluez-vm"
VM = Path(__file__).with_name("vm")
QEMU = "qemu-system-x86_64"
PACKAGES = "apt-get install --no-install-recommends qemu-system-x86 debootstrap cpio (./scripts/test does)"


class BluezUnavailable(Exception):
    """The VM cannot be built or run on this machine (the message says precisely why)."""


def missing_requirement() -> str | None:
    """Why the VM cannot be built or run here, or None."""
    if sys.platform != "linux":
        return f"the BlueZ VM is built with Debian tools on Linux; this is {sys.platform}"
    if sys.version_info[:2] != (3, 11):
        version = sys.version.split()[0]
        return f"the VM's Python is Debian bookworm's 3.11 and shares this venv; this Python is {version}"
    for tool in (QEMU, "debootstrap", "cpio", "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: {PACKAGES}"
    if os.geteuid() != 0 and not (IMAGE / "stamp").exists():
        return "building the BlueZ VM (debootstrap, chroot) needs root, and .cache/bluez-vm is not built"
    return None


def build() -> float:
    """Build the image if it is missing or its recipe changed; the seconds it took (0 when cached)."""
    started = time.monotonic()
    if os.geteuid() != 0:
        return 0.0  # missing_requirement made sure an image exists; it is used as it is
    done = subprocess.run([str(VM / "build.sh"), str(IMAGE)], capture_output=True, text=True, timeout=1200, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"building the BlueZ VM failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return time.monotonic() - started if "built in" in done.stderr else 0.0


@dataclass
class GuestRun:
    """What one boot of the VM did."""

    returncode: int | None  # pytest's exit status in the guest; None if the guest never got that far
    seconds: float
    outcomes: dict[str, str] = field(default_factory=dict)  # guest test name -> passed/failed/error/skipped
    log: str = ""  # the guest's pytest output
    console: str = ""  # the kernel console (boot messages)
    bluetoothd: str = ""

    def report(self) -> str:
        """Everything needed to see what went wrong, for an assertion message."""
        return (
            f"guest exit status {self.returncode} after {self.seconds:.0f} s; outcomes {self.outcomes}\n"
            f"--- guest log ---\n{self.log[-12000:]}\n--- bluetoothd ---\n{self.bluetoothd[-3000:]}\n"
            f"--- console ---\n{self.console[-3000:]}"
        )


def run_guest(out: Path, pytest_args: list[str], *, timeout: float = 900.0) -> GuestRun:
    """Boot the VM and run pytest on ``pytest_args`` (paths under tests/bluez/guest) inside it."""
    out.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    env = {"REPO": str(REPO), "SITE": str(site), "PYTEST_ARGS": shlex.join(pytest_args)}
    (out / "env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()), encoding="utf-8")

    def share(tag: str, path: Path, readonly: bool) -> list[str]:
        options = f"local,path={path},mount_tag={tag},security_model=none" + (",readonly=on" if readonly else "")
        return ["-virtfs", options]

    command = [
        QEMU,
        *("-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "2"),
        *("-kernel", str(IMAGE / "vmlinuz"), "-initrd", str(IMAGE / "initrd.img")),
        *("-append", "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4"),
        *("-display", "none", "-no-reboot", "-serial", f"file:{out / 'console.log'}", "-monitor", "none"),
        *share("out", out, False),
        *share("repo", REPO, True),
        *share("site", site, True),
    ]
    started = time.monotonic()
    with contextlib.suppress(subprocess.TimeoutExpired):  # reported below: no exit status from the guest
        subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    seconds = time.monotonic() - started

    def text(name: str) -> str:
        path = out / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    status = text("rc").strip()
    return GuestRun(
        returncode=int(status) if status.lstrip("-").isdigit() else None,
        seconds=seconds,
        outcomes=_outcomes(out / "junit.xml"),
        log=text("guest.log"),
        console=text("console.log"),
        bluetoothd=text("bluetoothd.log"),
    )


def _outcomes(junit: Path) -> dict[str, str]:
    if not junit.exists():
        return {}
    outcomes = {}
    for case in ET.parse(junit).iter("testcase"):  # noqa: S314 - written by our own guest
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            if case.find(kind) is not None:
                outcome = "failed" if kind == "failure" else kind
        outcomes[case.get("name", "?")] = outcome
    return outcomes
