"""The agent's BLE link on real BlueZ (bleak's BlueZ D-Bus backend, bluetoothd 5.66, Linux 6.1) against
the project's emulated health devices, in a qemu VM built from Debian packages (see vm.py).

The smoke (tests/bluez/guest/test_smoke.py: scan with the service filter, pairing and a glucose
download with delete after commit, a live blood pressure reading reaching the store) and setup's
pairing with BlueZ reached as the service's user (tests/bluez/guest/test_setup_pairing.py) run in
every test run. The failure cases (tests/bluez/guest/test_failures.py: a meter dropping mid-download, an
adapter pulled out) run with CLINIC_AGENT_BLUEZ=full, as ./scripts/test-bluez does.

Where the VM cannot exist (no qemu or debootstrap, not root for the first build) the test is skipped
with the reason; with CLINIC_AGENT_REQUIRE_BLUEZ=1 (CI, where scripts/test installs them) that is a
failure instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bluez import vm

SMOKE = {
    "test_scan_lists_only_devices_advertising_a_health_service",
    "test_a_live_blood_pressure_reading_reaches_the_store_with_the_clock_set",
    "test_a_glucose_meter_is_paired_and_its_records_deleted_only_after_commit",
    "test_setup_pairs_a_meter_and_the_service_user_reaches_bluez",  # test_setup_pairing.py
}
FAILURES = {
    "test_a_download_cut_short_deletes_nothing_and_the_next_connection_completes_it",
    "test_an_adapter_that_disappears_is_an_error_until_it_comes_back",
}
FULL = os.environ.get("CLINIC_AGENT_BLUEZ") == "full"

# The VM is emulated (TCG): on a loaded machine one boot and run outlasts the suite's 5-minute test
# timeout. vm.run_guest bounds the guest at 15 minutes; the image build comes on top, once.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def image() -> float:
    """The VM image, built (or found cached); the seconds the build took."""
    reason = vm.missing_requirement()
    if reason is not None:
        message = f"the BlueZ test VM cannot be built here, the BLE link was NOT tested on BlueZ: {reason}"
        if os.environ.get("CLINIC_AGENT_REQUIRE_BLUEZ") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return vm.build()


def _run(out: Path, files: list[str], expected: set[str]) -> vm.GuestRun:
    run = vm.run_guest(out, [f"tests/bluez/guest/{name}" for name in files])
    print(f"BlueZ VM: {run.seconds:.0f} s, guest outcomes {run.outcomes}")  # shown with -s
    assert run.returncode == 0, run.report()
    assert run.outcomes == dict.fromkeys(expected, "passed"), run.report()
    return run


def test_the_ble_link_on_bluez_smoke(image: float, tmp_path: Path) -> None:
    if FULL:
        pytest.skip("CLINIC_AGENT_BLUEZ=full: the smoke runs inside test_the_ble_link_on_bluez_full")
    _run(tmp_path, ["test_smoke.py", "test_setup_pairing.py"], SMOKE)


@pytest.mark.skipif(not FULL, reason="the full BlueZ run is the slower job: ./scripts/test-bluez")
def test_the_ble_link_on_bluez_full(image: float, tmp_path: Path) -> None:
    _run(tmp_path, ["test_smoke.py", "test_setup_pairing.py", "test_failures.py"], SMOKE | FAILURES)
