# Run by the BlueZ test VM's init: the system bus, bluetoothd, then pytest on tests/bluez/guest.
# Environment (from the out share's env file): REPO, SITE, PYTEST_ARGS.
set -eu
. /host/out/env  # REPO, SITE, PYTEST_ARGS (written by tests/bluez/vm.py)
modprobe hci_vhci
mkdir -p /run/dbus
dbus-uuidgen --ensure
dbus-daemon --system --fork
bluetoothd=/usr/libexec/bluetooth/bluetoothd
[ -x "$bluetoothd" ] || bluetoothd=/usr/lib/bluetooth/bluetoothd
"$bluetoothd" -n >/host/out/bluetoothd.log 2>&1 &
# The host's site-packages (bleak, bumble, pytest, the project in editable mode) on this Python 3.11.
echo "import site; site.addsitedir('$SITE')" >/usr/lib/python3/dist-packages/clinic-agent-host.pth
cd "$REPO"
export HOME=/tmp CLINIC_AGENT_IN_BLUEZ_VM=1 PYTHONDONTWRITEBYTECODE=1
echo "guest: $(uname -r), $("$bluetoothd" -v 2>&1 | head -1) bluetoothd, $(python3 --version), up $(cut -d' ' -f1 /proc/uptime) s"
# shellcheck disable=SC2086  # PYTEST_ARGS is a word list
python3 -m pytest -p no:cacheprovider -p no:textual-snapshot -p no:syrupy -p no:hypothesispytest -p no:anyio -p no:platformdirs -o timeout=150 -o log_level=INFO --junitxml=/host/out/junit.xml --basetemp=/tmp/pytest $PYTEST_ARGS
