"""``CreateBackup`` and ``BackupRetentionCleaner``: the system tasks of disaster recovery.

A ``CreateBackup`` task (``admin/system/tasks/createTask``) backs the deployment up at each
fire, into ``<prefix>-YYYY-MM-DD-HH-MM-SS`` (the fire's time, UTC) with ``scheduleType``
SCHEDULED and a retention date of the fire's time plus ``retentionOffset`` (none: kept for
ever). Its ``passcode`` is sealed at rest like every secret of task parameters and shown
masked, never in clear (ArcGIS's example shows it: gistasks does not).

``backupRetentionCleanerTask`` (``BackupRetentionCleaner``) exists from the first start,
hourly, and deletes the backups whose retention date has passed, naming them in its run.
"""

from __future__ import annotations

import re
from typing import Any

from gistasks.security.archive import MIN_PASSCODE
from gistasks.store.records import RunStatus, Scope
from gistasks.tasktypes.base import Builtin, Outcome, RunContext, TaskType

PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
MAX_OFFSET_MS = 100 * 366 * 86_400_000
KNOWN = {"name", "passcode", "storeName", "description", "metaData", "retentionOffset",
         "itemId"}


class CreateBackup(TaskType):
    name = "CreateBackup"
    internal_name = "CREATE_BACKUP_TASK_TYPE"
    scopes = frozenset({Scope.SYSTEM})

    def validate(self, parameters: dict[str, Any]) -> dict[str, Any]:
        unknown = set(parameters) - KNOWN
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; a CreateBackup task "
                             f"takes {sorted(KNOWN - {'itemId'})}")
        prefix = parameters.get("name")
        if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
            raise ValueError("'name' is the backups' name prefix: 1 to 80 letters, digits, "
                             "'.', '_' or '-'")
        passcode = parameters.get("passcode")
        if not isinstance(passcode, str) or not MIN_PASSCODE <= len(passcode) <= 1024:
            raise ValueError(f"'passcode' has at least {MIN_PASSCODE} characters")
        store = parameters.get("storeName")
        if store is not None and (not isinstance(store, str) or not store):
            raise ValueError("'storeName' names a backup store (without it: the default store)")
        known = self.deployment.backup_stores() if self.deployment.backup_stores else None
        if store is not None and known is not None and store not in known:
            raise ValueError(f"'storeName': there is no backup store {store!r} (the stores: "
                             f"{', '.join(known)})")
        offset = parameters.get("retentionOffset", -1)
        if (not isinstance(offset, int) or isinstance(offset, bool)
                or not (offset == -1 or 0 < offset <= MAX_OFFSET_MS)):
            raise ValueError("'retentionOffset' is milliseconds to keep each backup (14 days: "
                             "1209600000), or -1 to keep them for ever")
        description = parameters.get("description", "")
        if not isinstance(description, str) or len(description) > 4096:
            raise ValueError("'description' is text of at most 4096 characters")
        meta = parameters.get("metaData", {})
        if not isinstance(meta, dict):
            raise ValueError("'metaData' is an object ({\"recurring\": true, \"startTime\": "
                             "\"20:00\", \"retention\": {\"type\": \"day\", \"value\": 14}})")
        return parameters

    def execute(self, ctx: RunContext) -> Outcome:
        create = self.deployment.create_backup
        if create is None:
            return Outcome(RunStatus.FAILED, "this node cannot make backups")
        return Outcome(RunStatus.SUCCEEDED, create(ctx.parameters, ctx.scheduled_for,
                                                   ctx.owner))


class BackupRetentionCleaner(TaskType):
    name = "BackupRetentionCleaner"
    internal_name = "BACKUP_RETENTION_TASK_TYPE"
    scopes = frozenset({Scope.SYSTEM})
    idempotent = True
    builtin = Builtin("backupRetentionCleanerTask", "0 0 * * * ?")

    def execute(self, ctx: RunContext) -> Outcome:
        clean = self.deployment.clean_backups
        if clean is None:
            return Outcome(RunStatus.FAILED, "this node has no backups to clean")
        return Outcome(RunStatus.SUCCEEDED, clean())
