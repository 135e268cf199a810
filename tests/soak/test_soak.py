"""The soaks of ``bench/soak`` at CI size, and each soak shown to see a fault planted on purpose.

Kill -9, power loss and the fault proxy have their CI versions in tests/reliability and
tests/integration/sync; the fuzzer and the clinic day have theirs here (about 40 s together). The
planted faults are the cheapest runs that can show each soak's verdict and exit status: a stored
reading deleted (kill -9, power, the clinic day), one deleted from the platform (proxy, backlog), a
parser that lets a KeyError out (fuzz), API connections never closed (the clinic day's open files).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

from bench.soak import main
from tests.integration.fhir.conftest import installed_sekmet
from tests.soak import backlog, clinic_day, fuzz, power, proxy
from tests.soak.common import Tally
from tests.soak.daemon import Sample


@pytest.fixture
def seed() -> int:
    """RELIABILITY_SEED to replay, else a fresh seed (printed)."""
    value = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"seed={value} (replay with RELIABILITY_SEED={value})")
    return value


@pytest.fixture
def with_platform() -> None:
    """SEKMET must be installable; otherwise the FHIR tests' rule decides (skip, or fail in CI)."""
    installed_sekmet()


def said(tally: Tally) -> str:
    """The soak's line and its problems, for an assertion message."""
    return "\n".join([tally.line(), *tally.problems])


def test_fuzz_no_parser_lets_anything_but_frame_error_escape(seed: int) -> None:
    tally = fuzz.run(seed, 1000)
    assert tally.runs == len(fuzz.parsers()) >= 38, said(tally)
    assert tally.figures["inputs"] == 1000 * tally.runs
    assert not tally.failed, said(tally)


def test_fuzz_of_named_parsers_fuzzes_only_those_and_its_replay_names_them(seed: int) -> None:
    tally = fuzz.run(seed, 300, only=["sfloat", "cms50"])
    assert tally.runs == 2, said(tally)
    assert tally.figures["inputs"] == 600
    assert f"--seed {seed} --size 300 --parsers sfloat,cms50)" in tally.line()


def test_fuzz_refuses_a_parser_it_does_not_know_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--only", "fuzz", "--parsers", "sfloat,nope"])
    assert exit_.value.code == 2
    assert "no parser named nope; known: and, astm" in capsys.readouterr().err


def test_fuzz_sees_a_planted_foreign_exception_and_the_run_exits_1(
    seed: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tally = fuzz.run(seed, 500, plant="escape")
    assert tally.crashes > 0, said(tally)
    assert tally.failed
    assert any("KeyError: 'planted'" in p for p in tally.problems), said(tally)
    argv = ["--only", "fuzz", "--size", "500", "--seed", str(seed), "--plant", "escape"]
    assert main([*argv, "--workdir", str(tmp_path)]) == 1  # a failed soak's directory is kept: in tmp_path
    assert "fuzz: FAILED" in capsys.readouterr().out


def test_a_clinic_day_keeps_every_reading_and_edit_and_does_not_grow(seed: int, tmp_path: Path) -> None:
    tally = clinic_day.run(seed, 0.05, workdir=tmp_path, speed=10, sample_s=1.0)
    assert not tally.failed, said(tally)
    assert tally.figures["acked"], said(tally)  # the day did happen
    assert tally.figures["operations"], said(tally)
    assert int(str(tally.figures["samples"])) >= 15, said(tally)


def test_a_clinic_day_sees_leaked_connections_and_a_lost_reading(seed: int, tmp_path: Path) -> None:
    # A fifth of an hour: in three minutes of a day (seed 2322943837) the doctor's few operations fell
    # almost all before the growth check's baseline, and the planted leak went unseen.
    tally = clinic_day.run(seed, 0.2, workdir=tmp_path, plant="leak,drop", speed=40, sample_s=0.2)
    assert tally.lost >= 1, said(tally)
    assert any(p.startswith("files grew") for p in tally.problems), said(tally)
    assert tally.failed


def test_the_growth_check_judges_after_warm_up() -> None:
    """A step during warm-up is no growth; a climb to the end is."""
    flat = [Sample(at=i, rss_kib=100_000 if i < 3 else 150_000, files=12, threads=5) for i in range(30)]
    assert not any(g.grew for g in clinic_day.growth(flat))
    climbing = [Sample(at=i, rss_kib=150_000 + 3000 * i, files=12 + i // 3, threads=5) for i in range(30)]
    assert {g.name for g in clinic_day.growth(climbing) if g.grew} == {"rss_kib", "files"}


def test_the_kill_9_soak_sees_a_deleted_reading_and_exits_1(seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--only", "kill9", "--size", "1", "--seed", str(seed), "--no-platform", "--plant", "drop"]
    # Not under tmp_path: the daemon's socket in it would pass the 107 bytes a Unix socket path may have.
    short = Path(tempfile.mkdtemp(prefix="k9-"))
    try:
        assert main([*argv, "--workdir", str(short)]) == 1
    finally:
        shutil.rmtree(short, ignore_errors=True)
    out = capsys.readouterr().out
    assert "kill9: FAILED" in out, out
    assert "lost=0 " not in out.split("kill9: FAILED")[1], out


def test_the_power_soak_sees_a_deleted_reading(seed: int, tmp_path: Path) -> None:
    tally = power.run(seed, 2, workdir=tmp_path, plant="drop")
    assert tally.lost == 1, said(tally)
    assert tally.failed


@pytest.mark.usefixtures("with_platform")
def test_the_proxy_soak_sees_a_reading_the_platform_lost(seed: int, tmp_path: Path) -> None:
    tally = proxy.run(seed, 1, workdir=tmp_path, plant="drop", readings=20)
    assert tally.lost == 1, said(tally)
    assert tally.failed


@pytest.mark.usefixtures("with_platform")
def test_the_backlog_soak_sees_a_reading_the_platform_lost(seed: int, tmp_path: Path) -> None:
    tally = backlog.run(seed, 40, workdir=tmp_path, plant="drop", kill_every=3.0)
    assert tally.lost == 1, said(tally)
    assert tally.failed
    assert tally.runs >= 1, said(tally)


def test_the_kill9_machine_stamps_no_frame_of_a_full_soak_in_the_future() -> None:
    """A full kill -9 soak sends about 360,000 frames (8 a second for 45 minutes), one second of stamp
    apart; a stamp in the future is replaced by the time received, which the check counts as corrupt.
    Regression: the base was one day back, and a full soak counted 271,213 such frames as corrupt."""
    from datetime import UTC, datetime

    from tests.reliability.test_daemon_kill9 import Machine, taken_at

    machine = Machine(0, random.Random(0))
    assert taken_at(1_500_000, machine.base) < datetime.now(UTC)


class _Repeating(random.Random):
    """Draws the same numbers twice over before new ones: the first ID numbers drawn repeat."""

    def __init__(self) -> None:
        super().__init__(7)
        self._script = [1950, 1, 10, 900] * 2

    def randint(self, a: int, b: int) -> int:
        return self._script.pop(0) if self._script else super().randint(a, b)


def test_the_soak_doctor_never_registers_one_id_number_twice(tmp_path: Path) -> None:
    """Regression: a full kill -9 soak's doctor drew a registered ID number again and was answered
    "already registered", which the soak counts as an error answered."""
    from tests.soak.daemon import Doctor

    doctor = Doctor(tmp_path / "agent.sock", _Repeating())
    first, second = doctor.new_id_number(), doctor.new_id_number()
    assert first.startswith("52220119500110900")
    assert second != first
