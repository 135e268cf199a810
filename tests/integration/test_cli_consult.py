"""`clinic-agent consult` through the real command: request, list, show, withdraw, refusals with the reason."""

from __future__ import annotations

import json

from tests.integration.conftest import Cli

RESIDENT = "11010519491231002X"
TARGET = "Organization/4401 铜仁市人民医院 心内科"


def test_a_consultation_from_the_command_line(initialised: Cli) -> None:
    cli = initialised
    toml = cli.home / "agent.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + f'\n[platform]\nconsultation = ["{TARGET}"]\n', encoding="utf-8")
    cli("resident", "add", "--id-number", RESIDENT, "--name", "张秀英", check=True)
    cli("reading", "add", "--resident", RESIDENT, "--code", "8480-6", "--value", "172", "--unit", "mm[Hg]", check=True)

    targets = json.loads(cli("consult", "targets", "--json", check=True).stdout)
    assert targets == [{"target": "Organization/4401", "name": "铜仁市人民医院 心内科", "source": "config"}]

    refused = cli("consult", "request", "--resident", RESIDENT, "--question", " ", "--to", "Organization/4401")
    assert refused.returncode == 2
    assert "needs a question" in refused.stderr
    refused = cli("consult", "request", "--resident", RESIDENT, "--question", "血压高", "--to", "nobody")
    assert refused.returncode == 2
    assert "not one of the consultation services offered: Organization/4401 铜仁市人民医院 心内科" in refused.stderr

    made = json.loads(
        cli(
            "consult",
            "request",
            "--resident",
            RESIDENT,
            "--question",
            "三药联用血压仍高",
            "--to",
            "心内科",  # a name, or part of one, as `consult targets` lists them
            "--urgency",
            "urgent",
            "--json",
            check=True,
        ).stdout
    )
    assert made["state"] == "waiting"
    assert made["target_name"] == "铜仁市人民医院 心内科"
    assert len(made["attachments"]) == 1
    assert made["attachments"][0].startswith("reading:")
    human = cli("consult", "show", made["id"], check=True).stdout
    assert "not yet (only on this PC)" in human

    listed = json.loads(cli("consult", "list", "--resident", RESIDENT, "--json", check=True).stdout)
    assert [c["id"] for c in listed] == [made["id"]]

    early = cli("consult", "outcome", made["id"], "referred")
    assert early.returncode == 2
    assert "not reached the platform" in early.stderr

    withdrawn = json.loads(cli("consult", "withdraw", made["id"], "--json", check=True).stdout)
    assert withdrawn["state"] == "closed"
    assert withdrawn["closed_because"] == "withdrawn"
    again = cli("consult", "withdraw", made["id"])
    assert again.returncode == 2
    assert "already been withdrawn" in again.stderr


def test_a_request_to_no_one_or_with_nothing_to_attach_is_refused_with_the_reason(initialised: Cli) -> None:
    """Nothing offered (not enrolled, nothing in agent.toml) and a file with nothing to suggest."""
    cli = initialised
    cli("resident", "add", "--id-number", RESIDENT, "--name", "张秀英", check=True)
    offered = cli("consult", "targets", check=True).stdout
    assert "None offered" in offered
    asking = ("consult", "request", "--resident", RESIDENT, "--question", "血压高")

    no_one = cli(*asking, "--to", " ", "--attach", "reading:00000000-0000-4000-8000-000000000000")
    assert no_one.returncode == 2
    assert no_one.stderr.strip().endswith("a consultation needs someone to ask (target)")
    nothing = cli(*asking, "--to", "Organization/4401")
    assert nothing.returncode == 2
    assert "this resident's file has none to suggest" in nothing.stderr
    assert "--attach KIND:ID" in nothing.stderr
    listed = cli("consult", "list", "--json", check=True).stdout
    assert json.loads(listed) == []
