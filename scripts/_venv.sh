# Sourced by scripts/demo and scripts/test: make .venv hold the project and its dev tools.
# Reinstalls only when pyproject.toml has changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Clinic Agent needs Python 3.11 or newer; $python is $("$python" --version 2>&1)." >&2
    exit 1
fi
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip > /dev/null 2>&1 || true
fi
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    echo "Installing Clinic Agent and its dependencies into .venv ..." >&2
    if ! "$venv/bin/pip" install --quiet --editable "$root[dev]" > "$venv/install.log" 2>&1; then
        cat "$venv/install.log" >&2
        echo "Installing the dependencies failed (log above)." >&2
        exit 1
    fi
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
