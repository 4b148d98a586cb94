"""What a flow run may set for itself: the folders it reads rules from and keeps files in.

Flows take these as typed keyword parameters (``config_dir``, ``var_dir``: the names deployments
and scripts already pass), described in the Prefect UI's run form, and hand their tasks one
:class:`RunSettings`. Paths only: secrets and the database URL come from the worker's environment.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leadops.config import Settings, get_settings

_CONFIG_DIR_HELP = ("Folder of the rule files (scoring.yaml, routing.yaml, sdrs.yaml, sla.yaml, sources.yaml) for "
                    "this run; empty: LEADOPS_CONFIG_DIR or the project's config/.")
_VAR_DIR_HELP = ("Folder of inbox/, processed/, failed/, outbox/ and reports/ for this run (another inbox, for "
                 "example); empty: LEADOPS_VAR_DIR or the project's var/.")


class RunSettings(BaseModel):
    """The per-run overrides of the environment's settings a flow passes to its tasks (None: keep
    the environment's value). Frozen and JSON-serializable: a child flow records it as a parameter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config_dir: str | None = Field(default=None, description=_CONFIG_DIR_HELP)
    var_dir: str | None = Field(default=None, description=_VAR_DIR_HELP)

    def settings(self) -> Settings:
        """Return the environment's settings with this run's folders in place of theirs."""
        return get_settings(**self.model_dump(exclude_none=True))


# Flow parameter defaults: Prefect reads a pydantic Field default's description into the run form
# (and gives the function the Field's default), so every flow describes these two the same way.
CONFIG_DIR: Any = Field(None, description=_CONFIG_DIR_HELP)
VAR_DIR: Any = Field(None, description=_VAR_DIR_HELP)
