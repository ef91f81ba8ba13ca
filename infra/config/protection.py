"""`paif:protection`: which stateful objects one run may replace or delete on purpose.

Every object that holds data is protected in every environment (Pulumi's `protect`): a
change that would replace it, or a program that would delete it, stops in the preview
before anything changes, naming the object. To replace or delete one on purpose, name it
here for that run, then remove the name again:

    pulumi config set --path 'paif:protection.release[0]' database
    pulumi up            # unprotects and replaces in the same run
    pulumi config rm paif:protection

A deletion (the object left out of the program) needs the release applied by one `up`
before the run that deletes it, because Pulumi keeps the protection recorded in state.
"""

from __future__ import annotations

from typing import Literal

from infra.config.base import Model

StatefulObject = Literal[
    "database",
    "postgresCluster",
    "uploadsVolume",
    "supervisorNamespace",
    "vksCluster",
    "harborProject",
]
STATEFUL_OBJECTS: dict[str, str] = {
    "database": "the app's PostgreSQL database, its schema and the role that owns them (paif:database)",
    "postgresCluster": "the DSM PostgresCluster and its admin credentials (paif:database)",
    "uploadsVolume": "the backend's uploads PersistentVolumeClaim (paif:app.uploads*)",
    "supervisorNamespace": "the Supervisor namespace (paif:vsphere.namespace)",
    "vksCluster": "the VKS workload cluster (paif:vks)",
    "harborProject": "the Harbor project and its images (paif:harbor)",
}


class ProtectionConfig(Model):
    release: list[StatefulObject] = []
    """Stateful objects this run may replace or delete on purpose (database, postgresCluster,
    uploadsVolume, supervisorNamespace, vksCluster, harborProject); empty protects all."""
