"""`clinic-agent setup` through the real command: commissioning from a file, and what it refuses."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from tests.integration.conftest import Cli

SETUP = """\
[clinic]
name = "坝盘村卫生室"
code = "TR0001"
[store]
machine_key = true
[doctor]
name = "zhangwei"
display_name = "张伟"
pin_file = "pin.txt"
"""


def _setup_file(tmp_path: Path, text: str = SETUP) -> Path:
    (tmp_path / "pin.txt").write_text("246810\n")
    path = tmp_path / "setup.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_setup_from_a_file_commissions_the_pc(cli: Cli, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    result = cli("setup", "--from", str(_setup_file(tmp_path)), "--report", str(report), check=True)
    config = tomllib.loads((cli.home / "agent.toml").read_text(encoding="utf-8"))
    assert config["clinic"] == {"name": "坝盘村卫生室", "code": "TR0001"}
    assert config["store"]  # the rest of agent.toml is kept
    assert (cli.home / "machine.key").exists()
    code = next(line.strip() for line in result.stdout.splitlines() if line.startswith("    ") and "-" in line)
    assert result.stdout.count(code) == 1  # shown once, never in the report
    kept = report.read_text(encoding="utf-8")
    assert code not in kept
    assert "246810" not in kept
    for expected in (
        "坝盘村卫生室 (TR0001)",
        "passphrase (admin), recovery, machine",
        "zhangwei (doctor)",
        "not confirmed",
    ):
        assert expected in kept, kept
    users = json.loads(cli("user", "list", "--json", check=True).stdout)
    assert {"name": "zhangwei", "role": "doctor"}.items() <= next(u for u in users if u["name"] == "zhangwei").items()
    unlocked = cli("unlock", "--recovery", CLINIC_AGENT_PASSPHRASE="", CLINIC_AGENT_RECOVERY_CODE=code)
    assert unlocked.returncode == 0, unlocked.stderr  # the code shown is the one that opens the store
    checked = cli("doctor", "--json")
    outcomes = {c["check"]: c["outcome"] for c in json.loads(checked.stdout)}
    assert outcomes.pop("service") == "warning"  # not started yet (and no systemd unit here)
    assert outcomes.pop("unsent records") == "warning"  # no platform given: not enrolled
    assert set(outcomes.values()) == {"ok"}, outcomes
    assert checked.returncode == 3  # warnings only: 0 is kept for all is well


def test_setup_reports_an_enrolment_that_failed(cli: Cli, tmp_path: Path) -> None:
    text = SETUP + '[platform]\nurl = "https://127.0.0.1:9/fhir"\n'
    result = cli("setup", "--from", str(_setup_file(tmp_path, text)), "--json", "--report", str(tmp_path / "r.txt"))
    assert result.returncode == 1, result.stderr  # commissioned, but not enrolled as asked: a script must see it
    [line] = result.stderr.splitlines()
    assert line.startswith("clinic-agent: setup's enrolment step failed: "), line
    report = json.loads(result.stdout)
    assert report["platform"].startswith("NOT enrolled"), report["platform"]
    assert report["round_trip"] is None
    assert report["clinic"]["code"] == "TR0001"
    assert (tmp_path / "r.txt").exists()


def test_setup_refuses_twice_a_bad_file_and_no_terminal(cli: Cli, tmp_path: Path) -> None:
    no_terminal = cli("setup")
    assert no_terminal.returncode == 2
    assert "--from FILE" in no_terminal.stderr
    bad = cli("setup", "--from", str(_setup_file(tmp_path, SETUP + "[clinic2]\n")))
    assert bad.returncode == 2
    assert "unknown section [clinic2]" in bad.stderr
    missing = cli("setup", "--from", str(_setup_file(tmp_path, SETUP.replace('code = "TR0001"\n', ""))))
    assert missing.returncode == 2
    assert "clinic.code" in missing.stderr
    assert not (cli.home / "keys.json").exists()  # nothing was created by a refused setup
    cli("setup", "--from", str(_setup_file(tmp_path)), "--report", str(tmp_path / "r.txt"), check=True)
    again = cli("setup", "--from", str(_setup_file(tmp_path)))
    assert again.returncode == 2
    assert "already holds a store" in again.stderr


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert process.poll() is None, f"the simulator at {path} ended"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_setup_probes_serial_ports_and_adds_what_answered(cli: Cli, tmp_path: Path) -> None:
    """An oximeter (asked for live data) and an analyser (saying ENQ) on ptys are recognised and added;
    a port where nothing talks is said to be silent; Bluetooth is listed or its absence said."""
    oximeter, analyser, silent = tmp_path / "ttyOXI", tmp_path / "ttyLAB", tmp_path / "ttyQUIET"
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "clinic_agent", "simulate", "cms50", "--serial", str(oximeter)],
            env=cli.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "clinic_agent", "simulate", "astm-analyser", "--serial", str(analyser)],
            env=cli.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={silent}", f"pty,raw,echo=0,link={tmp_path / 'ttyNOBODY'}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        for path, process in zip((oximeter, analyser, silent), started, strict=True):
            _wait_for(path, process)
        text = SETUP + "[devices]\nadd_found = true\n"
        probes = [arg for path in (oximeter, analyser, silent) for arg in ("--probe-port", str(path))]
        report_file = tmp_path / "r.txt"
        result = cli(
            "setup",
            "--from",
            str(_setup_file(tmp_path, text)),
            *probes,
            "--probe-seconds",
            "3",
            "--ble-seconds",
            "1",
            "--json",
            "--report",
            str(report_file),
        )
    finally:
        for process in started:
            process.terminate()
            process.wait(20)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    ports = {p["device"]: p for p in report["serial_ports"]}
    assert (ports[str(oximeter)]["protocol"], ports[str(oximeter)]["baud"]) == ("cms50", 115200)
    assert (ports[str(analyser)]["protocol"], ports[str(analyser)]["baud"]) == ("astm", 9600)
    assert ports[str(silent)]["protocol"] is None
    assert ports[str(silent)]["probe"].startswith("silent")
    assert report["devices_added"] == [f"oximeter (serial {oximeter} @ 115200)", f"analyser (serial {analyser} @ 9600)"]
    devices = tomllib.loads((cli.home / "agent.toml").read_text(encoding="utf-8"))["devices"]
    assert [(d["name"], d["protocol"], d["port"], d["baud"]) for d in devices] == [
        ("oximeter", "cms50", str(oximeter), 115200),
        ("analyser", "astm", str(analyser), 9600),
    ]
    bluetooth = report["bluetooth"]
    assert bluetooth["error"] is None or bluetooth["error"].startswith("Bluetooth is not available here")
    kept = report_file.read_text(encoding="utf-8")
    assert "cms50 answered at 115200 baud" in kept
    assert "bluetooth health devices" in kept
    assert cli("devices", "list", check=True).returncode == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_setup_pairs_the_bluetooth_meter_it_adds(cli: Cli, tmp_path: Path) -> None:
    """A glucose meter that wants an encrypted link (the simulator in its own process, reached over HCI
    on TCP instead of BlueZ) is found, added and paired, and the report says so."""
    port = _free_port()
    meter = subprocess.Popen(
        [sys.executable, "-m", "clinic_agent", "simulate", "glucometer", "--ble", f"tcp-server:127.0.0.1:{port}"],
        env=cli.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert meter.stderr is not None
        while "advertising" not in (line := meter.stderr.readline()):
            assert line, "the simulated meter ended before it advertised"
        text = SETUP + "[devices]\nadd_found = true\n"
        report_file = tmp_path / "r.txt"
        transport = f"tcp-client:127.0.0.1:{port}"
        result = cli(
            "setup",
            "--from",
            str(_setup_file(tmp_path, text)),
            "--no-probe",
            "--ble-seconds",
            "1",
            "--ble-transport",
            transport,
            "--json",
            "--report",
            str(report_file),
        )
    finally:
        meter.terminate()
        meter.communicate(timeout=20)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [found] = report["bluetooth"]["devices"]
    assert (found["address"], found["name"]) == ("F1:F1:F1:F1:F1:02", "Glucose Sim")
    paired = "paired: it asked for an encrypted link; paired (Just Works) and bonded"
    assert found["pairing"] == {"outcome": "paired", "detail": paired.removeprefix("paired: ")}
    assert report["devices_added"] == [f"bluetooth (ble F1:F1:F1:F1:F1:02); {paired}"]
    assert paired in report_file.read_text(encoding="utf-8")
    [device] = tomllib.loads((cli.home / "agent.toml").read_text(encoding="utf-8"))["devices"]
    assert (device["kind"], device["address"], device["transport"]) == ("ble", "F1:F1:F1:F1:F1:02", transport)


def test_setup_without_bluetooth_says_so_in_one_line_and_goes_on(cli: Cli, tmp_path: Path) -> None:
    report_file = tmp_path / "r.txt"
    result = cli(
        "setup",
        "--from",
        str(_setup_file(tmp_path)),
        "--no-probe",
        "--ble-seconds",
        "1",
        "--report",
        str(report_file),
        DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path / 'no-bus'}",  # a PC without D-Bus (or BlueZ)
    )
    assert result.returncode == 0, result.stderr
    kept = report_file.read_text(encoding="utf-8").splitlines()
    said = [line for line in kept if "Bluetooth" in line]
    assert said == [
        "  (Bluetooth is not available here: the system D-Bus is not running (BlueZ is reached through it): "
        "[Errno 2] No such file or directory)"
    ], kept
    assert any(line.startswith("first doctor    zhangwei (doctor)") for line in kept)  # setup went on


class _Terminal:
    """`clinic-agent` on a pseudo-terminal of its own, as a technician runs it: read up to a prompt, answer."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is its controlling terminal, so getpass reads it too
            os.execvpe(sys.executable, [sys.executable, "-m", "clinic_agent", *args], env)  # noqa: S606 (no shell)
        self.pid, self.fd, self.seen = pid, fd, ""

    def expect(self, text: str, within: float = 90.0) -> str:
        """Wait until ``text`` is shown; what was shown before it."""
        deadline = time.monotonic() + within
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not shown; the terminal shows:\n{self.seen[-3000:]}"
            ready, _, _ = select.select([self.fd], [], [], left)
            try:
                chunk = os.read(self.fd, 4096) if ready else b""
            except OSError:  # the command ended
                chunk = b""
            assert chunk or ready == [], f"the command ended before {text!r}:\n{self.seen[-3000:]}"
            self.seen += chunk.decode("utf-8", "replace")
        before = self.seen[: self.seen.index(text)]
        self.seen = self.seen[self.seen.index(text) + len(text) :] if text else self.seen
        return before

    def answer(self, prompt: str, text: str) -> None:
        self.expect(prompt)
        os.write(self.fd, text.encode() + b"\r")

    def finish(self, within: float = 120.0) -> tuple[int, str]:
        rest = ""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 1.0)
            try:
                chunk = os.read(self.fd, 4096) if ready else b""
            except OSError:
                break
            if ready and not chunk:
                break
            rest += chunk.decode("utf-8", "replace")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status), self.seen + rest


def test_setup_on_a_terminal_asks_everything_and_pairs_what_the_technician_adds(cli: Cli, tmp_path: Path) -> None:
    """The README's `sudo clinic-agent setup`, answered on a terminal: the questions in order, the
    passphrase and PIN typed twice, the recovery code confirmed, the meter found offered and paired."""
    port = _free_port()
    meter = subprocess.Popen(
        [sys.executable, "-m", "clinic_agent", "simulate", "glucometer", "--ble", f"tcp-server:127.0.0.1:{port}"],
        env=cli.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    report_file = tmp_path / "report.txt"
    try:
        assert meter.stderr is not None
        while "advertising" not in (line := meter.stderr.readline()):
            assert line, "the simulated meter ended before it advertised"
        args = ["setup", "--no-probe", "--ble-seconds", "1", "--ble-transport", f"tcp-client:127.0.0.1:{port}"]
        terminal = _Terminal([*args, "--report", str(report_file)], cli.env(CLINIC_AGENT_PASSPHRASE=""))
        terminal.answer("Clinic name: ", "坝盘村卫生室")
        terminal.answer("Clinic code on the regional platform: ", "TR0002")
        terminal.answer("(machine key)? yes/no [yes]: ", "")
        terminal.answer("First doctor's login name [doctor]: ", "zhangwei")
        terminal.answer("Their name as shown: ", "张伟")
        terminal.answer("Regional platform URL (empty: enrol later): ", "")
        terminal.answer("Choose a new passphrase (at least 10 characters): ", "a long technician passphrase")
        terminal.answer("Type the new passphrase again: ", "a long technician passphrase")
        terminal.answer("PIN (4-12 digits): ", "246810")
        terminal.answer("PIN again: ", "246810")
        terminal.expect("RECOVERY CODE")
        # Up to the next question: the code's own line may not have been read yet when the heading was.
        shown = terminal.expect("Type its last 4 characters to confirm you wrote it down: ")
        code = shown.split("\n    ", 1)[1].split()[0]
        os.write(terminal.fd, code.replace("-", "")[-4:].encode() + b"\r")
        terminal.answer("as device 'bluetooth'? yes/no [yes]: ", "yes")
        status, said = terminal.finish()
    finally:
        meter.terminate()
        meter.communicate(timeout=20)
    assert status == 0, said
    kept = report_file.read_text(encoding="utf-8")
    for expected in (
        "坝盘村卫生室 (TR0002)",
        "shown once, confirmed written down",
        "zhangwei (doctor)",
        "bluetooth (ble F1:F1:F1:F1:F1:02); paired: it asked for an encrypted link",
    ):
        assert expected in kept, kept
    assert code not in kept
    users = cli("user", "list", "--json", CLINIC_AGENT_PASSPHRASE="a long technician passphrase")
    assert users.returncode == 0, users.stderr  # the passphrase typed twice is the one that opens the store
    assert "zhangwei" in users.stdout
