#!/usr/bin/env bash
# Install Clinic Agent as a systemd service on a clinic PC. Run as root from a clone or release:
#   sudo packaging/install.sh [--prefix /opt/clinic-agent]
# Safe to run again to upgrade: the configuration and the data are never overwritten, and a running
# agent is restarted on the new program.
set -euo pipefail

prefix=/opt/clinic-agent
etc=/etc/clinic-agent
data=/var/lib/clinic-agent
user=clinic-agent
group=clinic
src="$(cd "$(dirname "$0")/.." && pwd)"
# The service runs as its own user, so it needs an interpreter every user may run: the system's.
python="${PYTHON:-/usr/bin/python3}"

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        *) echo "usage: $0 [--prefix DIR]" >&2; exit 2 ;;
    esac
done

die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
"$python" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "Python 3.11 or newer is needed at $python (apt-get install python3 python3-venv)"
"$python" -c 'import venv, ensurepip' 2>/dev/null || die "python3-venv is missing (apt-get install python3-venv)"

echo "== user $user and group $group"
getent group "$group" >/dev/null || groupadd --system "$group"
getent passwd "$user" >/dev/null \
    || useradd --system --gid "$group" --home-dir "$data" --no-create-home --shell /usr/sbin/nologin "$user"
if getent group dialout >/dev/null; then usermod -aG dialout "$user"; fi

echo "== program in $prefix"
[ -x "$prefix/bin/python" ] || "$python" -m venv "$prefix"
"$prefix/bin/pip" install --quiet --upgrade pip >/dev/null 2>&1 || true
"$prefix/bin/pip" install --quiet "$src" || die "installing the package failed"
install -m 0644 "$src/README.md" "$prefix/README.md"
ln -sf "$prefix/bin/clinic-agent" /usr/local/bin/clinic-agent

echo "== configuration in $etc, data in $data"
install -d -m 0750 -o root -g "$group" "$etc"
if [ ! -e "$etc/agent.toml" ]; then
    "$prefix/bin/python" -c 'import sys; from clinic_agent.runtime.config import default_text
open(sys.argv[1], "w", encoding="utf-8").write(default_text(socket="/run/clinic-agent/agent.sock", group=sys.argv[2]))' \
        "$etc/agent.toml" "$group"
    chown root:"$group" "$etc/agent.toml"
    chmod 0640 "$etc/agent.toml"
fi
install -d -m 0700 -o "$user" -g "$group" "$data"

echo "== systemd unit"
install -m 0644 "$src/packaging/systemd/clinic-agent.service" /etc/systemd/system/clinic-agent.service
if [ "$prefix" != /opt/clinic-agent ]; then
    sed -i "s#/opt/clinic-agent#$prefix#g" /etc/systemd/system/clinic-agent.service
fi
# earlier versions installed a udev rule; Debian's own rules already give serial adapters to dialout
rm -f /etc/udev/rules.d/60-clinic-agent.rules
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    # an agent already running still runs the old program: restart it on the new one (not started
    # if it was not running)
    if systemctl is-active --quiet clinic-agent; then
        echo "== restarting the running agent"
        systemctl try-restart clinic-agent || die "the agent did not restart: journalctl -u clinic-agent"
    fi
fi

cat <<TXT

Installed. Next:
  sudo -u $user $prefix/bin/clinic-agent init --machine-key   # write the recovery code down
  sudo systemctl enable --now clinic-agent
  sudo usermod -aG $group <each doctor's login>
  clinic-agent status
TXT
