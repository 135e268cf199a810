"""The running program: the daemon, its services (ingest, devices, sync, backups) and the tools around it."""
