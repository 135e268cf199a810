"""The daemon's own backups: one every ``[backup] interval_hours``, the newest ``keep`` kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from typing import TYPE_CHECKING

from clinic_agent.core.errors import ClinicAgentError, StoreLocked
from clinic_agent.store.backup import Verified, backups_dir, list_backups, prune, take

if TYPE_CHECKING:
    from clinic_agent.runtime.agent import Agent

_LOGGER = logging.getLogger(__name__)


class DailyBackups:
    """The daemon's own backups: one every ``[backup] interval_hours``, the newest ``keep`` kept."""

    name = "backups"
    RETRY_S = 3600.0
    FIRST_AFTER_S = 600.0  # the first one, 10 minutes after the service starts: not in the rush of a boot

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.parent = backups_dir(agent.home.root)
        self.interval = agent.config.backup_interval_hours * 3600.0
        self.keep = agent.config.backup_keep
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    async def start(self) -> None:
        """Start the schedule (nothing when ``keep`` is 0)."""
        if self.keep > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the schedule; a backup being written is left to finish or be cleaned up next time."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def due_in(self) -> float:
        """Seconds until the next automatic backup is due (0 or less: now)."""
        daily = [p for p in list_backups(self.parent) if p.name.endswith("-daily")]
        if not daily:
            return self.FIRST_AFTER_S - (time.monotonic() - self._started)
        return self.interval - (time.time() - daily[-1].stat().st_mtime)

    def take(self) -> Verified:
        """Take one automatic backup now and drop the oldest beyond ``keep``."""
        for stale in self.parent.glob(".partial-*") if self.parent.is_dir() else ():
            shutil.rmtree(stale, ignore_errors=True)  # left by a stop in the middle of one
        made = take(
            self.agent.home.db_path,
            self.agent.home.keys_path,
            self.parent,
            label="daily",
            keyring=self.agent.store.keyring,
            config_path=self.agent.home.config_path,
        )
        removed = prune(self.parent, self.keep)
        with contextlib.suppress(StoreLocked):
            self.agent.store.audit.record("agent", "backup", "store", self.agent.store.store_id, made.path.name)
        _LOGGER.info("automatic backup %s taken (%d old ones removed)", made.path.name, len(removed))
        return made

    async def _run(self) -> None:
        while True:
            wait = self.due_in()
            if wait <= 0:
                try:
                    await asyncio.to_thread(self.take)
                    wait = self.interval
                except ClinicAgentError as exc:
                    _LOGGER.error("the automatic backup failed: %s; trying again in an hour", exc.message)
                    wait = self.RETRY_S
                except OSError as exc:
                    _LOGGER.error("the automatic backup failed: %s; trying again in an hour", exc)
                    wait = self.RETRY_S
            await asyncio.sleep(min(wait, self.RETRY_S))
