"""`clinic-agent` end to end, through subprocesses, as a technician or a script would use it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from clinic_agent import __version__
from tests.integration.conftest import Cli
from tests.support import PASSPHRASE


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_help_works_for_every_command(cli: Cli) -> None:
    assert "resident" in cli("--help", check=True).stdout
    for command in (
        "init",
        "run",
        "status",
        "lock",
        "unlock",
        "resident add",
        "resident list",
        "resident show",
        "resident search",
        "reading add",
        "user add",
        "audit verify",
        "passphrase change",
        "key rotate",
    ):
        assert cli(*command.split(), "--help", check=True).stdout.startswith("usage:")


def test_version_is_the_same_alone_and_among_other_options(cli: Cli) -> None:
    alone = cli("--version", check=True)  # answered before any command is loaded
    assert alone.stdout == f"clinic-agent {__version__}\n"
    assert cli("--json", "--version", check=True).stdout == alone.stdout  # answered by argparse


def test_init_prints_the_recovery_code_once_and_refuses_to_run_twice(cli: Cli) -> None:
    first = cli("init", "--json", check=True)
    code = json.loads(first.stdout)["recovery_code"]
    assert len(code.split("-")) == 8
    again = cli("init")
    assert again.returncode != 0
    assert "already exists" in _one_line(again.stderr)
    assert code not in (cli.home / "keys.json").read_text()


def test_init_needs_a_passphrase_and_a_good_one(cli: Cli) -> None:
    missing = cli("init", CLINIC_AGENT_PASSPHRASE="")
    assert missing.returncode == 2
    assert "passphrase" in _one_line(missing.stderr)
    weak = cli("init", CLINIC_AGENT_PASSPHRASE="short")
    assert weak.returncode == 2
    assert "10 characters" in _one_line(weak.stderr)
    assert not (cli.home / "clinic.db").exists()


def test_residents_add_list_show_search(initialised: Cli) -> None:
    cli = initialised
    added = json.loads(
        cli(
            "resident",
            "add",
            "--id-number",
            "11010519491231002X",
            "--name",
            "张秀英",
            "--village",
            "坝盘村",
            "--phone",
            "13800138000",
            "--json",
            check=True,
        ).stdout
    )
    assert (added["sex"], added["birth_date"]) == ("2", "1949-12-31")  # taken from the ID number
    cli("resident", "add", "--id-number", "440524188001010014", "--name", "王五", "--sex", "male", check=True)
    listed = json.loads(cli("resident", "list", "--json", check=True).stdout)
    assert {r["name"] for r in listed} == {"张秀英", "王五"}
    assert all("id" in r and "id_number" in r for r in listed)
    shown = cli("resident", "show", "11010519491231002X", check=True).stdout
    assert "坝盘村" in shown
    found = json.loads(cli("resident", "search", "zxy", "--json", check=True).stdout)
    assert [m["name"] for m in found] == ["张秀英"]
    by_id = json.loads(cli("resident", "show", added["id"], "--json", check=True).stdout)
    assert by_id["resident"]["phone"] == "13800138000"


@pytest.mark.parametrize(
    ("id_number", "check"),
    [
        ("1101051949123100", "has 16 characters"),
        ("11010519491231002Y", "17 digits followed by a digit or X"),
        ("00010519491231002X", "not a province code"),
        ("110105194913310026", "not a valid birth date"),
        ("110105194912310021", "check digit"),
    ],
)
def test_a_malformed_id_number_names_the_failing_check(initialised: Cli, id_number: str, check: str) -> None:
    result = initialised("resident", "add", "--id-number", id_number, "--name", "某人")
    assert result.returncode == 2
    assert check in _one_line(result.stderr)


def test_a_number_failing_its_check_digit_is_kept_only_with_a_reason(initialised: Cli) -> None:
    refused = initialised("resident", "add", "--id-number", "110105194912310021", "--name", "某人")
    assert refused.returncode == 2
    assert "--id-override REASON" in _one_line(refused.stderr)
    kept = initialised(
        "resident", "add", "--id-number", "110105194912310021", "--name", "某人", "--id-override", "card shows it"
    )
    assert kept.returncode == 0, kept.stderr
    shown = initialised("resident", "show", "110105194912310021", check=True).stdout
    assert "card shows it" in shown
    still = initialised("resident", "add", "--id-number", "000105194912310021", "--name", "某人", "--id-override", "x")
    assert still.returncode == 2
    assert "not a province code" in _one_line(still.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sex", "female", "--id-number", "440524188001010014"], "does not match the ID number"),
        (["--birth-date", "1950-01-01", "--id-number", "440524188001010014"], "birth date 1950-01-01"),
        (["--sex", "sometimes", "--id-number", "440524188001010014"], "sex 'sometimes'"),
        (["--phone", "ring ring", "--id-number", "440524188001010014"], "phone"),
        (["--birth-date", "yesterday", "--id-number", "440524188001010014"], "is not a date"),
    ],
)
def test_other_bad_resident_input_is_one_line(initialised: Cli, args: list[str], message: str) -> None:
    result = initialised("resident", "add", "--name", "某人", *args)
    assert result.returncode == 2
    assert message in _one_line(result.stderr)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_wrong_passphrase_changes_nothing_but_is_audited(initialised: Cli) -> None:
    cli = initialised
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    with sqlite3.connect(cli.home / "clinic.db") as conn:
        before = (
            conn.execute("SELECT count(*) FROM residents").fetchone()[0],
            conn.execute("SELECT count(*) FROM audit").fetchone()[0],
        )
    result = cli(
        "resident",
        "add",
        "--id-number",
        "440524188001010014",
        "--name",
        "王五",
        CLINIC_AGENT_PASSPHRASE="not the passphrase at all",
    )
    assert result.returncode == 1
    assert "wrong passphrase" in _one_line(result.stderr)
    with sqlite3.connect(cli.home / "clinic.db") as conn:
        after = (
            conn.execute("SELECT count(*) FROM residents").fetchone()[0],
            conn.execute("SELECT count(*) FROM audit").fetchone()[0],
        )
        assert conn.execute("SELECT action FROM pending_events").fetchall() == [("unlock_failed",)]
    assert after == before
    cli("status", check=True)
    cli("resident", "list", check=True)  # the next unlock writes the failed attempt into the chain
    with sqlite3.connect(cli.home / "clinic.db") as conn:
        assert conn.execute("SELECT count(*) FROM audit WHERE action = 'unlock_failed'").fetchone()[0] == 1
    assert json.loads(cli("audit", "verify", "--json", check=True).stdout)["ok"]


def test_a_missing_key_file_is_refused_and_the_database_kept(initialised: Cli) -> None:
    cli = initialised
    db = cli.home / "clinic.db"
    (cli.home / "keys.json").rename(cli.home / "keys.away")
    before = _digest(db)
    for args in (["resident", "list"], ["status"], ["init"]):
        result = cli(*args)
        assert result.returncode != 0
        _one_line(result.stderr)
    assert _digest(db) == before


def test_a_missing_database_is_refused_not_recreated(initialised: Cli) -> None:
    cli = initialised
    for name in ("clinic.db", "clinic.db-wal", "clinic.db-shm"):
        (cli.home / name).unlink(missing_ok=True)
    result = cli("resident", "list")
    assert result.returncode == 1
    assert "database" in _one_line(result.stderr)
    assert not (cli.home / "clinic.db").exists()


def test_a_tampered_row_is_reported_by_id_and_the_rest_keeps_working(initialised: Cli) -> None:
    cli = initialised
    good = json.loads(
        cli("resident", "add", "--id-number", "11010519491231002X", "--name", "好人", "--json", check=True).stdout
    )
    bad = json.loads(
        cli("resident", "add", "--id-number", "440524188001010014", "--name", "坏人", "--json", check=True).stdout
    )
    with sqlite3.connect(cli.home / "clinic.db") as conn:
        blob = bytearray(conn.execute("SELECT payload FROM residents WHERE id = ?", (bad["id"],)).fetchone()[0])
        blob[30] ^= 0x40
        conn.execute("UPDATE residents SET payload = ? WHERE id = ?", (bytes(blob), bad["id"]))
    listed = cli("resident", "list")
    assert listed.returncode == 1
    assert "好人" in listed.stdout
    assert "坏人" not in listed.stdout
    assert bad["id"] in _one_line(listed.stderr)
    shown_bad = cli("resident", "show", bad["id"])
    assert shown_bad.returncode == 1
    assert bad["id"] in _one_line(shown_bad.stderr)
    assert "好人" in cli("resident", "show", good["id"], check=True).stdout


def test_readings_alerts_inbox_and_assignment(initialised: Cli) -> None:
    cli = initialised
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    urgent = cli(
        "reading",
        "add",
        "--resident",
        "11010519491231002X",
        "--code",
        "8480-6",
        "--value",
        "186",
        "--unit",
        "mm[Hg]",
        "--json",
        check=True,
    )
    assert json.loads(urgent.stdout)["alerts"]
    waiting = json.loads(
        cli("reading", "add", "--code", "2708-6", "--value", "97", "--unit", "%", "--json", check=True).stdout
    )
    inbox = json.loads(cli("reading", "unassigned", "--json", check=True).stdout)
    assert [r["id"] for r in inbox] == [waiting["id"]]
    cli("reading", "assign", waiting["id"], "11010519491231002X", check=True)
    assert json.loads(cli("reading", "unassigned", "--json", check=True).stdout) == []
    for bad in (["--value", "lots"], ["--value", "NaN"], ["--taken-at", "2999-01-01T00:00"], ["--unit", " "]):
        args = {"--value": "120", "--unit": "mm[Hg]", "--taken-at": None}
        args.update(dict(zip(bad[::2], bad[1::2], strict=True)))
        flat = [x for k, v in args.items() if v is not None for x in (k, v)]
        result = cli("reading", "add", "--code", "8480-6", *flat)
        assert result.returncode == 2, (bad, result.stderr)
        _one_line(result.stderr)


def test_users_get_a_pin_from_standard_input(initialised: Cli) -> None:
    cli = initialised
    cli("user", "add", "zhangwei", "--role", "doctor", "--display-name", "张伟", stdin="246810\n", check=True)
    users = json.loads(cli("user", "list", "--json", check=True).stdout)
    assert users == [{"display_name": "张伟", "id": users[0]["id"], "name": "zhangwei", "role": "doctor"}]
    weak = cli("user", "add", "li", "--role", "nurse", stdin="1234\n")
    assert weak.returncode == 2
    assert "PIN" in _one_line(weak.stderr)
    missing = cli("user", "add", "li", "--role", "nurse", stdin="")
    assert missing.returncode == 2


def test_passphrase_change_recovery_code_and_key_rotation(cli: Cli) -> None:
    code = json.loads(cli("init", "--json", check=True).stdout)["recovery_code"]
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    cli("passphrase", "change", CLINIC_AGENT_NEW_PASSPHRASE="the new passphrase here", check=True)
    assert cli("resident", "list").returncode == 1  # the old passphrase no longer opens it
    new = {"CLINIC_AGENT_PASSPHRASE": "the new passphrase here"}
    assert "张秀英" in cli("resident", "list", check=True, **new).stdout
    recovered = cli("unlock", "--recovery", "--json", CLINIC_AGENT_RECOVERY_CODE=code.lower(), check=True)
    assert json.loads(recovered.stdout)["slot"] == "recovery"
    rotated = json.loads(cli("key", "rotate", "--json", check=True, **new).stdout)
    assert (rotated["current"], rotated["retired"]) == ("k2", ["k1"])
    assert "张秀英" in cli("resident", "list", check=True, **new).stdout
    assert json.loads(cli("audit", "verify", "--json", check=True, **new).stdout)["ok"]


def test_a_broken_audit_log_names_the_first_bad_entry(initialised: Cli) -> None:
    cli = initialised
    for number in ("11010519491231002X", "440524188001010014"):
        cli("resident", "add", "--id-number", number, "--name", "某人", check=True)
    with sqlite3.connect(cli.home / "clinic.db") as conn:
        conn.execute("DROP TRIGGER audit_append_only_update")
        conn.execute("UPDATE audit SET detail = 'nothing to see' WHERE seq = 3")
    result = cli("audit", "verify")
    assert result.returncode == 1
    assert "entry 3" in result.stdout


def test_status_needs_no_passphrase_and_shows_no_personal_data(initialised: Cli) -> None:
    cli = initialised
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    status = cli("status", "--json", CLINIC_AGENT_PASSPHRASE="", check=True)
    data = json.loads(status.stdout)
    assert (data["locked"], data["residents"], data["daemon"]["running"]) == (True, 1, False)
    assert "张秀英" not in status.stdout
    assert "11010519491231002X" not in status.stdout


def test_the_passphrase_can_come_from_a_file(initialised: Cli, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(PASSPHRASE + "\n")
    assert initialised("resident", "list", "--passphrase-file", str(secret), CLINIC_AGENT_PASSPHRASE="").returncode == 0
    missing = initialised("resident", "list", "--passphrase-file", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "cannot read" in _one_line(missing.stderr)


def test_a_bad_config_names_the_key(initialised: Cli) -> None:
    (initialised.home / "agent.toml").write_text("[api]\nsession_idle_minutes = 99\n")
    result = initialised("status")
    assert result.returncode == 1
    assert "api.session_idle_minutes" in _one_line(result.stderr)


def test_an_interrupted_init_can_be_run_again(cli: Cli) -> None:
    """Regression (reliability review): init dying before keys.json was saved left a home that
    neither opened nor could be initialised again."""
    crashed = cli("init", CLINIC_AGENT_CRASHPOINT="init.database_created")
    assert crashed.returncode == 137
    assert (cli.home / "clinic.db").exists()
    assert not (cli.home / "keys.json").exists()
    cli("init", check=True)
    assert list(cli.home.glob("clinic.db.unfinished-*"))  # set aside, never deleted
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)


def test_init_never_sets_aside_a_database_that_holds_data(initialised: Cli) -> None:
    cli = initialised
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    (cli.home / "keys.json").rename(cli.home / "keys.elsewhere")
    refused = cli("init")
    assert refused.returncode == 1
    assert "holds data" in refused.stderr
    assert not list(cli.home.glob("clinic.db.unfinished-*"))
