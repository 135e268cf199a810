"""The Debian package a technician carries to a village: packaging/build-deb, then the .deb used offline.

The package is built once for the module (from the files of this tree). Its metadata and contents
are read with dpkg-deb. Then a throwaway Debian root of this machine's release (minbase, the
release's Python, systemd) is made with mmdebstrap from the mirror apt already uses, and booted
with systemd-nspawn under its own systemd with no network (only loopback): deb/driver.sh installs
a previous build, commissions it (setup from a file), runs the service, takes a backup, upgrades with data in it (the
service restarts), runs doctor, restores, removes and purges (keeping the health data unless the
purge question says otherwise). Each step is one test below.

Needs root (a root file system of its own, nspawn) and Debian's tools, which ./scripts/test
installs as root.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("deb") / "driver.sh"


# The package is for the release's own Python; a standard install has it, and systemd, beyond minbase.
def _system_python() -> str:
    try:
        found = subprocess.run(
            ["/usr/bin/python3", "-c", "import sys; print('python%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "python3"
    return found.stdout.strip()


PYTHON = _system_python()
INCLUDE = f"{PYTHON},systemd,systemd-sysv,dbus"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # the build and the boot are fixtures of the first test; on a loaded machine 10+ min
    pytest.mark.skipif(os.geteuid() != 0, reason="builds and boots a Debian root: needs root"),
    pytest.mark.skipif(shutil.which("dpkg") is None, reason="the package is built on Debian or Ubuntu only"),
]


def _run(*args: str | Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(a) for a in args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, input=input)
    assert result.returncode == 0, f"{args}: {result.stderr[-3000:]}{result.stdout[-2000:]}"
    return result


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """This tree's package, and the same one renumbered as a previous build to upgrade from."""
    out = tmp_path_factory.mktemp("deb")
    started = time.monotonic()
    built = _run(ROOT / "packaging" / "build-deb", "--worktree", "--compression", "gzip", "--out", out)
    print(f"build-deb: {time.monotonic() - started:.0f} s\n{built.stdout}")
    (deb,) = out.glob("clinic-agent_*.deb")
    unpacked = out / "previous"
    _run("dpkg-deb", "-R", deb, unpacked)
    control = unpacked / "DEBIAN" / "control"
    control.write_text(re.sub(r"(?m)^Version: .*$", "Version: 0.0.1-1", control.read_text()))
    previous = out / "previous.deb"
    _run("dpkg-deb", "--root-owner-group", "-Zgzip", "-b", unpacked, previous)
    shutil.rmtree(unpacked)
    return {"new": deb, "previous": previous}


def _codename() -> str:
    return _run("sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME").stdout.strip()


def _sources(codename: str) -> str:
    """The Debian mirror(s) apt already uses for this release, as sources.list lines."""
    policy = _run("apt-cache", "policy").stdout
    lines = sorted(
        {
            f"deb {m[1]} {m[2]} main"
            for m in re.finditer(rf"^ *\d+ (\S+) ({codename}(?:-\S+)?)/main \S+ Packages$", policy, re.M)
        }
    )
    assert lines, f"apt knows no mirror of {codename} main (run apt-get update)"
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh minbase root of this machine's release (the tarball is kept in .cache/ between runs)."""
    codename = _codename()
    tag = hashlib.sha256(f"{codename} {INCLUDE}".encode()).hexdigest()[:12]
    tarball = ROOT / ".cache" / f"debian-root-{codename}-{tag}.tar"
    if not tarball.exists():
        tarball.parent.mkdir(exist_ok=True)
        partial = tarball.with_suffix(".partial")
        _run(
            "mmdebstrap",
            "--variant=minbase",
            f"--include={INCLUDE}",
            "--format=tar",
            codename,
            partial,
            "-",
            input=_sources(codename),
        )
        partial.rename(tarball)
    root = tmp_path_factory.mktemp("root") / "fs"
    root.mkdir()
    _run("tar", "-x", "-C", root, "-f", tarball)
    return root


@pytest.fixture(scope="module")
def steps(debs: dict[str, Path], debian_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Boot the root with no network; the driver runs every step once and powers off."""
    shared = tmp_path_factory.mktemp("test")
    shutil.copy(debs["new"], shared / "clinic-agent.deb")
    shutil.copy(debs["previous"], shared / "previous.deb")
    shutil.copy(DRIVER, shared / "driver.sh")
    (shared / "setup.toml").write_text(
        '[clinic]\nname = "坝盘村卫生室"\ncode = "TR0001"\n[doctor]\nname = "zhangwei"\n', encoding="utf-8"
    )
    (debian_root / "etc/systemd/system/clinic-test.service").write_text(
        "[Unit]\nAfter=multi-user.target\n[Service]\nType=oneshot\nExecStart=/test/driver.sh\n"
    )
    wants = debian_root / "etc/systemd/system/default.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "clinic-test.service").symlink_to("/etc/systemd/system/clinic-test.service")
    boot = subprocess.run(
        [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            "--console=pipe",
            f"--directory={debian_root}",
            f"--bind={shared}:/test",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    results = shared / "results"
    transcript = (shared / "transcript").read_text() if (shared / "transcript").exists() else ""
    assert results.exists(), f"the driver never ran:\n{boot.stdout[-4000:]}{boot.stderr[-2000:]}"
    found: dict[str, str] = {}
    for line in results.read_text().splitlines():
        word, _, rest = line.partition(" ")
        if word == "time":
            name, _, value = rest.partition(" ")
            found[f"time {name}"] = value
        elif word in ("ok", "FAIL"):
            name, _, detail = rest.partition(": ")
            found[name] = "ok" if word == "ok" else f"FAIL: {detail}\n--- transcript ---\n{transcript[-6000:]}"
        else:
            found[word] = "ok"
    print({k: v for k, v in found.items() if k.startswith("time")})
    return found


def _assert_steps(steps: dict[str, str], *names: str) -> None:
    for name in names:
        assert steps.get(name) == "ok", f"{name}: {steps.get(name, 'never ran (an earlier step stopped the driver?)')}"


def test_metadata(debs: dict[str, Path]) -> None:
    info = _run("dpkg-deb", "-I", debs["new"]).stdout
    assert re.search(r"^ Package: clinic-agent$", info, re.M)
    assert re.search(r"^ Version: 0\.1\.0-1$", info, re.M)
    depends = _run("dpkg-deb", "-f", debs["new"], "Depends").stdout.strip().split(", ")
    assert PYTHON in depends  # exactly the release's interpreter the venv links to
    assert "passwd" in depends
    assert _run("dpkg-deb", "-f", debs["new"], "Recommends").stdout.strip() == "bluez"
    for script in ("postinst", "postrm", "prerm", "templates", "conffiles"):
        assert re.search(rf"\b{script}\b", info), script


def test_contents(debs: dict[str, Path], tmp_path: Path) -> None:
    listing = _run("dpkg-deb", "-c", debs["new"]).stdout
    entries = {line.split()[5].removeprefix("."): line for line in listing.splitlines()}
    site = f"/opt/clinic-agent/lib/{PYTHON}/site-packages"
    for path in (
        "/opt/clinic-agent/bin/clinic-agent",
        "/lib/systemd/system/clinic-agent.service",
        "/etc/clinic-agent/agent.toml",
        f"{site}/clinic_agent/runtime/__pycache__/daemon.cpython-{PYTHON.removeprefix('python').replace('.', '')}.pyc",
        f"{site}/cryptography/__init__.py",
    ):
        assert path in entries, path
    assert entries["/usr/bin/clinic-agent"].split()[-1] == "/opt/clinic-agent/bin/clinic-agent"
    assert entries["/etc/clinic-agent/agent.toml"].startswith("-rw-r-----")
    assert all(line.split()[1] == "root/root" for line in listing.splitlines())
    assert not any(f"{site}/{name}/" in listing for name in ("pip", "setuptools", "pytest"))
    _run("dpkg-deb", "-e", debs["new"], tmp_path / "control")
    assert (tmp_path / "control" / "conffiles").read_text().split() == ["/etc/clinic-agent/agent.toml"]
    size = debs["new"].stat().st_size
    print(f"package: {size / 1e6:.1f} MB")


def test_installs_offline(steps: dict[str, str]) -> None:
    _assert_steps(steps, "only-loopback", "install-previous", "version", "modes")
    print(f"offline install: {steps['time install-previous']}, upgrade: {steps.get('time upgrade')}")


def test_service_waits_for_setup_then_runs(steps: dict[str, str]) -> None:
    _assert_steps(steps, "waits-before-setup", "setup", "start", "active", "unlocked-by-machine-key", "resident-add")


def test_the_service_reaches_bluez_over_the_system_bus(steps: dict[str, str]) -> None:
    """The hardened unit (AF_UNIX, /run visible) lets the daemon's BLE link reach the system bus and ask
    for BlueZ; with the bus's socket hidden the same check fails (the planted fault)."""
    _assert_steps(steps, "bluez-over-dbus", "bluez-check-catches-a-hidden-bus")


def test_upgrade_with_data_restarts_the_service(steps: dict[str, str]) -> None:
    _assert_steps(steps, "upgrade", "restarted-by-upgrade", "conffile-kept", "data-after-upgrade")


def test_doctor_backup_and_restore(steps: dict[str, str]) -> None:
    _assert_steps(steps, "doctor", "backup", "resident-after-backup", "restore", "restored", "config-restored")


def test_remove_keeps_data_and_purge_asks(steps: dict[str, str]) -> None:
    _assert_steps(
        steps,
        "remove",
        "removed-keeps-data",
        "purge-unasked",
        "purge-kept-data",
        "apt-with-recommends-needs-the-network",
        "reinstall",
        "reinstall-uses-data",
        "purge-consented",
        "done",
    )
