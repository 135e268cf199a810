"""tests/bluez/guest runs only inside the BlueZ VM (test_bluez.py starts it); elsewhere it is not collected."""

from __future__ import annotations

import os

collect_ignore = [] if os.environ.get("CLINIC_AGENT_IN_BLUEZ_VM") == "1" else ["guest"]
