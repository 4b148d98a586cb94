"""`leadops automations install`: the automations of deployments/automations/*.yaml on a Prefect server.

Each file holds one automation in the format of `prefect automation create --from-file`. Installing
is idempotent by name: an automation of that name is updated in place (extra copies, e.g. from
running `prefect automation create` twice, are deleted), otherwise it is created.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).resolve().parent / "automations"


def load(folder: Path = FOLDER) -> list[Any]:
    """Return the automations defined in ``folder`` (one AutomationCore per YAML file, sorted by file name)."""
    from prefect.events.schemas.automations import AutomationCore

    return [AutomationCore.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
            for p in sorted(folder.glob("*.yaml"))]


def install(folder: Path = FOLDER) -> list[dict[str, str]]:
    """Create or update every automation of ``folder`` on the server of PREFECT_API_URL.

    Returns one ``{"name", "id", "action"}`` per automation, action being ``created`` or ``updated``.
    Raises RuntimeError when PREFECT_API_URL is not set: a temporary local API would forget them.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise RuntimeError("PREFECT_API_URL is not set: point it at the Prefect server the workers use "
                           "(e.g. http://127.0.0.1:4200/api)")
    out = []
    with get_client(sync_client=True) as client:
        for automation in load(folder):
            existing = sorted(client.read_automations_by_name(automation.name), key=lambda a: str(a.id))
            if existing:
                keep, *extra = existing
                client.update_automation(keep.id, automation)
                for dup in extra:  # one automation per name: a copy would act twice
                    client.delete_automation(dup.id)
                out.append({"name": automation.name, "id": str(keep.id), "action": "updated"})
            else:
                out.append({"name": automation.name, "id": str(client.create_automation(automation)),
                            "action": "created"})
    return out
