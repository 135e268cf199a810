"""Bad input through the real `clinic-agent` command: refused in one line, exit status 2, nothing kept.

Each case runs with the store opened in process and, where a daemon could answer, through a daemon.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, raw_call, start_daemon

NUMBER = "11010519491231002X"


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(params=["in-process", "daemon"])
def either(request: pytest.FixtureRequest, initialised: Cli) -> Iterator[Cli]:
    """A store used by the command itself, or through a running daemon."""
    if request.param == "in-process":
        yield initialised
        return
    daemon = start_daemon(initialised)
    try:
        initialised("unlock", check=True)
        yield initialised
    finally:
        daemon.stop()


def _readings(cli: Cli) -> list[dict[str, object]]:
    return list(json.loads(cli("reading", "unassigned", "--json", check=True).stdout))


@pytest.mark.parametrize("value", ["1e999", "nan", "inf", "-inf", "1e12", "-1e12", "1e-999"])
def test_a_value_no_measurement_can_have_is_refused(either: Cli, value: str) -> None:
    result = either("reading", "add", "--code", "8480-6", f"--value={value}", "--unit", "mm[Hg]")
    assert result.returncode == 2, result.stderr
    assert "value" in _one_line(result.stderr)
    assert _readings(either) == []


def test_a_hand_entered_value_is_held_to_the_device_range_unless_confirmed(either: Cli) -> None:
    refused = either("reading", "add", "--code", "8480-6", "--value", "330", "--unit", "mm[Hg]")
    assert refused.returncode == 2
    line = _one_line(refused.stderr)
    assert "outside the plausible range 40-300" in line
    assert "--confirm-extreme REASON" in line
    assert _readings(either) == []
    kept = either(
        "reading",
        "add",
        "--code",
        "8480-6",
        "--value",
        "330",
        "--unit",
        "mm[Hg]",
        "--confirm-extreme",
        "re-measured twice, other cuff",
        "--json",
        check=True,
    )
    assert json.loads(kept.stdout)["alerts"]
    [stored] = _readings(either)
    assert stored["extreme_reason"] == "re-measured twice, other cuff"
    either("resident", "add", "--id-number", NUMBER, "--name", "张秀英", check=True)
    either("reading", "assign", str(stored["id"]), NUMBER, check=True)
    assert "⚠ extreme value kept: re-measured twice, other cuff" in either("resident", "show", NUMBER).stdout


def test_a_unit_devices_may_not_use_is_refused(either: Cli) -> None:
    result = either("reading", "add", "--code", "8480-6", "--value", "330", "--unit", "mmHg", "--confirm-extreme", "x")
    assert result.returncode == 2
    assert "unit 'mmHg'" in _one_line(result.stderr)


# -- files named on the command line are read only as far as their use allows -----------------------------


def _endless(path: Path, size: int) -> Path:
    """A file far larger than any use (sparse: no disk), standing in for /dev/zero."""
    with path.open("wb") as file:
        file.truncate(size)
    return path


def test_decode_file_is_read_only_up_to_a_frame(cli: Cli, tmp_path: Path) -> None:
    big = _endless(tmp_path / "zero", 64 * 1024 * 1024)
    for protocol in ("hl7", "astm"):
        result = cli("decode", protocol, "--file", str(big))
        assert result.returncode == 2
        assert "larger than 1 MiB" in _one_line(result.stderr)
    missing = cli("decode", "hl7", "--file", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert "cannot read --file" in _one_line(missing.stderr)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["resident", "list", "--passphrase-file"], "passphrase file"),
        (["passphrase", "change", "--new-passphrase-file"], "new passphrase file"),
        (["enroll", "--platform", "https://platform.example/fhir", "--token-file"], "--token-file"),
    ],
)
def test_secret_files_are_read_only_up_to_a_few_kib(
    initialised: Cli, tmp_path: Path, args: list[str], option: str
) -> None:
    big = _endless(tmp_path / "zero", 64 * 1024 * 1024)
    result = initialised(*args, str(big))
    assert result.returncode == 2, result.stderr
    assert f"{option} {big} is larger than" in _one_line(result.stderr)


def test_init_reads_a_passphrase_file_only_up_to_a_few_kib(cli: Cli, tmp_path: Path) -> None:
    big = _endless(tmp_path / "zero", 64 * 1024 * 1024)
    result = cli("init", "--passphrase-file", str(big))
    assert result.returncode == 2
    assert "larger than 4 KiB" in _one_line(result.stderr)
    assert not (cli.home / "keys.json").exists()


def test_a_pin_on_standard_input_is_read_only_up_to_a_line(initialised: Cli) -> None:
    result = initialised("user", "add", "li", "--role", "nurse", stdin="\0" * 100_000)
    assert result.returncode == 2
    assert "not a PIN" in _one_line(result.stderr)


# -- homes that cannot be one ------------------------------------------------------------------------------


def test_init_says_what_is_wrong_with_the_home(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for home, problem in [
        (tmp_path / "a-file", "is not a directory"),
        (tmp_path / "a-file" / "home", "cannot be created: Not a directory"),
    ]:
        result = Cli(home)("init")
        assert result.returncode == 2, result.stderr
        assert problem in _one_line(result.stderr)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_init_in_a_directory_this_user_may_not_write(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o555)
    result = Cli(closed / "home")("init")
    assert result.returncode == 1
    assert "cannot be created: Permission denied" in _one_line(result.stderr)


# -- a missing passphrase is missing input, whatever the command ---------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["init"],
        ["resident", "list"],
        ["reading", "unassigned"],
        ["unlock"],
        ["passphrase", "change"],
        ["audit", "verify"],
    ],
)
def test_no_passphrase_and_no_terminal_is_bad_input_for_every_command(cli: Cli, args: list[str]) -> None:
    if args != ["init"]:
        cli("init", check=True)
    result = cli(*args, CLINIC_AGENT_PASSPHRASE="")  # standard input is not a terminal
    assert result.returncode == 2, (args, result.stderr)
    assert "passphrase is needed" in _one_line(result.stderr) or "no passphrase" in result.stderr


def test_no_passphrase_through_the_daemon_is_bad_input_too(initialised: Cli) -> None:
    daemon = start_daemon(initialised)
    try:
        result = initialised("resident", "list", CLINIC_AGENT_PASSPHRASE="")
        assert result.returncode == 2, result.stderr
        assert "passphrase is needed" in _one_line(result.stderr)
    finally:
        daemon.stop()


# -- one configuration check for doctor and run --------------------------------------------------------------


def test_doctor_fails_the_sync_key_that_run_refuses(initialised: Cli) -> None:
    config = initialised.home / "agent.toml"
    config.write_text(config.read_text() + "[sync]\ncolour = 1\n")
    doctor = initialised("doctor", "--json")
    assert doctor.returncode == 1
    [found] = [c for c in json.loads(doctor.stdout) if c["check"] == "configuration"]
    assert found["outcome"] == "FAIL"
    assert "sync.colour" in found["detail"]
    run = initialised("run")
    assert run.returncode == 1
    assert "sync.colour" in _one_line(run.stderr)


def test_doctor_and_run_refuse_a_namespace_that_is_not_an_https_base(initialised: Cli) -> None:
    config = initialised.home / "agent.toml"
    config.write_text(config.read_text() + '[platform]\nnamespace = "https://fhir.tongren.example/ns/"\n')
    doctor = initialised("doctor", "--json")
    assert doctor.returncode == 1
    [found] = [c for c in json.loads(doctor.stdout) if c["check"] == "configuration"]
    assert found["outcome"] == "FAIL"
    assert "platform.namespace must not end with a slash" in found["detail"]
    run = initialised("run")
    assert run.returncode == 1
    assert "platform.namespace" in _one_line(run.stderr)


# -- the daemon's socket: deep nesting and numbers JSON does not have ------------------------------------------


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def test_the_daemon_answers_deep_nesting_and_odd_numbers_as_bad_frames(initialised: Cli) -> None:
    daemon = start_daemon(initialised)
    try:
        deep = b'{"id":1,"method":"ping","params":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        replies = raw_call(
            daemon.socket,
            [
                _frame(deep),
                _frame(b'{"id":2,"method":"reading.add","params":{"value":1e999}}'),
                _frame(b'{"id":3,"method":"reading.add","params":{"value":NaN}}'),
                _frame(b'{"id":4,"method":"ping"}'),
            ],
        )
    finally:
        daemon.stop()
    assert [r.get("error", {}).get("code") for r in replies[:3]] == ["bad_frame"] * 3
    assert "nested" in replies[0]["error"]["message"]
    assert replies[3] == {"id": 4, "result": "pong"}
    assert "RecursionError" not in daemon.log.read_text()
    assert "internal error" not in daemon.log.read_text()
