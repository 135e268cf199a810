"""`python -m clinic_agent` is `clinic-agent`."""

from clinic_agent.cli import main

raise SystemExit(main())
