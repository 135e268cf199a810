"""Commands of remote consultation: ask a specialist about a resident, list, show, withdraw, record the outcome."""

from __future__ import annotations

import argparse
from typing import Any

from clinic_agent.cli import output
from clinic_agent.cli.commands import _command, backend, show
from clinic_agent.core.errors import InvalidInput

URGENCIES = ("routine", "urgent", "emergency")
OUTCOMES = ("advice-followed", "referred", "not-reached")
_ONLY_HERE = "not yet (only on this PC)"
_ELSEWHERE = " on another PC (came from the platform)"


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands the consult commands (listed in ``clinic_agent.cli.COMMANDS``)."""
    consult = _command(sub, common, "consult", "remote consultation: ask a specialist about a resident (doctors)")
    inner = consult.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(inner, common, "request", "ask a specialist; attaches the last 30 days and the file unless --attach")
    p.add_argument("--resident", required=True, metavar="REF", help="ID card or health-record number, or record id")
    p.add_argument("--question", required=True, help="what to ask")
    p.add_argument(
        "--to",
        required=True,
        metavar="TARGET",
        help="whom to ask: a service's reference or (part of) its name, as `consult targets` lists them",
    )
    p.add_argument("--urgency", choices=URGENCIES, default="routine")
    p.add_argument("--attach", action="append", default=[], metavar="KIND:ID", help="a record to attach (repeatable)")
    p.set_defaults(handler=cmd_request)
    _command(
        inner, common, "targets", "whom a consultation may ask (the platform's services, and [platform] consultation)"
    ).set_defaults(handler=cmd_targets)
    p = _command(inner, common, "list", "consultations and their state, newest first")
    p.add_argument("--resident", metavar="REF", help="only this resident's")
    p.set_defaults(handler=cmd_list)
    p = _command(inner, common, "show", "one consultation: question, attachments, state, answers")
    p.add_argument("id", metavar="ID")
    p.set_defaults(handler=cmd_show)
    p = _command(inner, common, "withdraw", "withdraw a request (revoked on the platform)")
    p.add_argument("id", metavar="ID")
    p.set_defaults(handler=cmd_withdraw)
    p = _command(inner, common, "add", "add information to a request")
    p.add_argument("id", metavar="ID")
    p.add_argument("--text", default="")
    p.add_argument("--attach", action="append", default=[], metavar="KIND:ID")
    p.set_defaults(handler=cmd_add)
    p = _command(inner, common, "outcome", "what was done with the answer")
    p.add_argument("id", metavar="ID")
    p.add_argument("outcome", choices=OUTCOMES)
    p.add_argument("--text", default="")
    p.set_defaults(handler=cmd_outcome)


def _text(c: dict[str, Any]) -> str:
    lines = [
        f"{c['id']}  {c['state']}{' (' + c['closed_because'] + ')' if c.get('closed_because') else ''}"
        f"  {c['urgency']}  to {c['target_name'] or c['target']}",
        f"  asked {c['requested_at'][:16]} by {c['author'] or '-'}{'' if c['made_here'] else _ELSEWHERE}:"
        f" {output.safe(c['question'])}",
        f"  attached: {len(c['attachments'])} record(s); on the platform: {c['platform_id'] or _ONLY_HERE}",
    ]
    lines += [f"  added: {output.safe(a)}" for a in c["added"]]
    if c.get("task"):
        lines.append(f"  specialist's task: {c['task']['status']} {output.safe(c['task']['reason'])}".rstrip())
    lines += [f"  answer: {output.safe(a)}" for a in c["answers"]]
    lines += [f"  answer not shown here (read it on the platform): {output.safe(u)}" for u in c["unreadable"]]
    if c.get("outcome"):
        lines.append(f"  outcome: {c['outcome']['outcome']} {output.safe(c['outcome']['text'])}".rstrip())
    return "\n".join(lines)


def cmd_request(args: argparse.Namespace) -> int:
    """Make a consultation request."""
    with backend(args) as chosen:
        attachments = list(args.attach)
        if not attachments:
            suggested = chosen.call("consult.attachments", {"resident_id": args.resident})["attachments"]
            attachments = [item["ref"] for item in suggested]
            if not attachments:
                raise InvalidInput(
                    "a consultation needs at least one attached record, and this resident's file has none to"
                    " suggest (no readings of the last 30 days, no active condition or allergy, no follow-up):"
                    " name one with --attach KIND:ID"
                )
        made = chosen.call(
            "consult.request",
            {
                "resident_id": args.resident,
                "question": args.question,
                "target": args.to,
                "urgency": args.urgency,
                "attachments": attachments,
            },
        )
    show(args, made, lambda c: "Requested; it goes to the platform at the next sync.\n" + _text(c))
    return 0


def cmd_targets(args: argparse.Namespace) -> int:
    """List whom a consultation may ask: the platform's services as last fetched, and agent.toml's."""
    with backend(args) as chosen:
        result = chosen.call("consult.targets")
    rows = [[t["target"], t["name"], t["source"]] for t in result["targets"]]
    fetched = result.get("fetched_at")
    when = f"The platform's list was read {fetched[:16]}." if fetched else "The platform's list has not been read yet."
    show(
        args,
        result["targets"],
        lambda ts: (
            output.table(rows, ["target", "name", "from"]) + "\n" + when
            if ts
            else "None offered: the platform's consultation services are read at enrolment and at every sync"
            " (add [platform] consultation to agent.toml to name some by hand). " + when
        ),
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """List consultations."""
    params = {"resident_id": args.resident} if args.resident else {}
    with backend(args) as chosen:
        result = chosen.call("consult.list", params)
    found = result["consultations"]
    show(args, found, lambda cs: "\n".join(_text(c) for c in cs) if cs else "No consultations.")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Show one consultation."""
    with backend(args) as chosen:
        shown = chosen.call("consult.show", {"id": args.id})
    show(args, shown, _text)
    return 0


def cmd_withdraw(args: argparse.Namespace) -> int:
    """Withdraw a request."""
    with backend(args) as chosen:
        shown = chosen.call("consult.withdraw", {"id": args.id})
    show(args, shown, lambda c: "Withdrawn.\n" + _text(c))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Add information to a request."""
    with backend(args) as chosen:
        shown = chosen.call("consult.add", {"id": args.id, "text": args.text, "attachments": args.attach})
    show(args, shown, _text)
    return 0


def cmd_outcome(args: argparse.Namespace) -> int:
    """Record the outcome."""
    with backend(args) as chosen:
        shown = chosen.call("consult.outcome", {"id": args.id, "outcome": args.outcome, "text": args.text})
    show(args, shown, lambda c: "Outcome recorded; it goes to the platform at the next sync.\n" + _text(c))
    return 0
