"""The SEKMET fixture itself: a failed install or start is a clear SekmetUnavailable (hence a skip)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import clinic_agent_tests_sekmet as sekmet  # registered by conftest.py
import pytest


def test_an_install_without_a_package_index_fails_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    venv = tmp_path / "sekmet-venv"
    with pytest.raises(sekmet.SekmetUnavailable, match=r"installing SEKMET from sekmet-requirements\.txt failed"):
        sekmet.install_sekmet(venv)
    assert not (venv / ".installed").exists()  # a half-made venv is redone next time, never reused


def test_a_server_that_never_answers_fails_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "sekmet"
    fake.write_text("#!/bin/sh\necho 'Address already in use' >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(sekmet.SekmetUnavailable, match="Address already in use"):
        sekmet.SekmetServer(fake, tmp_path).start(attempts=1)


def test_the_installed_venv_is_reused(sekmet_executable: Path) -> None:
    stamp = sekmet_executable.parent.parent / ".installed"
    before = stamp.stat().st_mtime_ns
    assert sekmet.install_sekmet() == sekmet_executable
    assert stamp.stat().st_mtime_ns == before


def test_a_fresh_server_is_empty_and_on_its_own_port(fhir_server: str, fresh_fhir_server: str) -> None:
    import httpx

    assert fresh_fhir_server != fhir_server
    answer = httpx.get(f"{fresh_fhir_server}/Patient", timeout=10)
    assert (answer.status_code, answer.json()["total"]) == (200, 0)


def test_a_server_that_will_not_start_is_a_skip_or_under_ci_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.fhir.conftest import start_sekmet

    fake = tmp_path / "sekmet"
    fake.write_text("#!/bin/sh\necho 'Address already in use' >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("CLINIC_AGENT_REQUIRE_SEKMET", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Address already in use"):
        start_sekmet(fake, tmp_path / "laptop")
    monkeypatch.setenv("CLINIC_AGENT_REQUIRE_SEKMET", "1")  # as .ci/run sets it
    with pytest.raises(pytest.fail.Exception, match="Address already in use"):
        start_sekmet(fake, tmp_path / "ci")


def test_only_the_shared_fixtures_decide_what_an_unavailable_server_means() -> None:
    """A test module that caught SekmetUnavailable itself could skip where CI requires a failure."""
    here = Path(__file__).resolve().parent
    deciders = {here / "conftest.py", here / "server.py", Path(__file__).resolve()}
    users = {path for path in here.parents[1].rglob("*.py") if "SekmetUnavailable" in path.read_text(encoding="utf-8")}
    assert here / "conftest.py" in users  # the search sees the one place that decides
    assert users <= deciders, sorted(str(p.relative_to(here.parents[1])) for p in users - deciders)
