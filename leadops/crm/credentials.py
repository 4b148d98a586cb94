"""CRM credentials: Prefect blocks with secret fields, the environment as the fallback.

Register the block types once per Prefect server::

    prefect block register -m leadops.crm.credentials

then create a block in the UI (Blocks -> HubSpot Credentials / Salesforce Credentials) or in Python, and name
it in sources.yaml (``credentials_block``). Without a block, the connector reads the environment variables
named in its config (``HUBSPOT_ACCESS_TOKEN``; ``SALESFORCE_INSTANCE_URL`` and ``SALESFORCE_ACCESS_TOKEN`` or
``SALESFORCE_CLIENT_ID`` / ``SALESFORCE_CLIENT_SECRET`` / ``SALESFORCE_REFRESH_TOKEN``). Every secret resolved
here is registered with :mod:`leadops.redact`, so no log line, artifact or error quotes it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from leadops.redact import register

__all__ = ["CredentialsError", "HubSpotAuth", "HubSpotCredentials", "SalesforceAuth", "SalesforceCredentials"]


class CredentialsError(Exception):
    """The credentials of a connector cannot be found; the message says where they were looked for (never a value)."""


class HubSpotCredentials(Block):
    """A HubSpot private app's access token, or an OAuth app's client id, secret and refresh token."""

    _block_type_name = "HubSpot Credentials"
    _block_type_slug = "hubspot-credentials"
    _description = "Access to one HubSpot portal: a private app token, or OAuth client credentials and a refresh token."

    access_token: SecretStr | None = Field(None, description="Private app access token (pat-...).")
    client_id: str | None = Field(None, description="OAuth app client id (with client_secret and refresh_token).")
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None


class SalesforceCredentials(Block):
    """A Salesforce org: its instance URL and an access token, or a connected app's client credentials."""

    _block_type_name = "Salesforce Credentials"
    _block_type_slug = "salesforce-credentials"
    _description = ("Access to one Salesforce org: instance URL and an access token, or a connected app's client id "
                    "and secret (client-credentials flow) with an optional refresh token.")

    instance_url: str = Field(..., description="https://yourcompany.my.salesforce.com")
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None


@dataclass(frozen=True)
class HubSpotAuth:
    """Resolved HubSpot credentials: a token, and what is needed to get a new one (OAuth), if anything."""

    access_token: str | None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None

    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.client_secret, self.refresh_token) if s]

    @property
    def can_refresh(self) -> bool:
        return bool(self.client_id and self.client_secret and self.refresh_token)


@dataclass(frozen=True)
class SalesforceAuth:
    """Resolved Salesforce credentials: the org's URL, a token, and a connected app's credentials, if any."""

    instance_url: str
    access_token: str | None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None

    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.client_secret, self.refresh_token) if s]

    @property
    def can_refresh(self) -> bool:
        return bool(self.client_id and self.client_secret)


def _secret(value: SecretStr | None) -> str | None:
    text = value.get_secret_value().strip() if value is not None else ""
    return text or None


def _env(name: str | None) -> str | None:
    return (os.environ.get(name, "").strip() or None) if name else None


def _load_block(kind: type[Block], name: str, connector: str) -> Any:
    try:
        # Block.load is dispatched by Prefect: called synchronously here, it returns the block
        return kind.load(name)
    except Exception as exc:  # noqa: BLE001 - any lookup failure is a configuration problem
        # only the exception type: a message could quote a field
        raise CredentialsError(f"crm {connector}: cannot load the {kind.__name__} block {name!r} "
                               f"({type(exc).__name__}); register the type with `prefect block register -m "
                               f"leadops.crm.credentials` and create the block, or use the environment") from None


def hubspot_auth(connector: str, block: str | None, token_env: str) -> HubSpotAuth:
    """Return the HubSpot credentials of ``connector``: the block when named, else ``$token_env``; raises
    CredentialsError naming where it looked when neither yields a token or a refreshable OAuth set."""
    if block:
        b = _load_block(HubSpotCredentials, block, connector)
        auth = HubSpotAuth(_secret(b.access_token), b.client_id, _secret(b.client_secret), _secret(b.refresh_token))
        if not (auth.access_token or auth.can_refresh):
            raise CredentialsError(f"crm {connector}: the HubSpotCredentials block {block!r} has neither an access "
                                   "token nor client_id, client_secret and refresh_token")
    else:
        auth = HubSpotAuth(_env(token_env))
        if not auth.access_token:
            raise CredentialsError(f"crm {connector}: no credentials: set credentials_block, or the environment "
                                   f"variable {token_env} (it is {'empty' if token_env in os.environ else 'not set'})")
    register(*auth.secrets())
    return auth


def salesforce_auth(connector: str, block: str | None, instance_url: str | None, env_prefix: str) -> SalesforceAuth:
    """Return the Salesforce credentials of ``connector``: the block when named, else the environment variables
    ``{env_prefix}_INSTANCE_URL``, ``_ACCESS_TOKEN``, ``_CLIENT_ID``, ``_CLIENT_SECRET``, ``_REFRESH_TOKEN``;
    ``instance_url`` from sources.yaml, when set, wins over both. Raises CredentialsError naming what is missing."""
    if block:
        b = _load_block(SalesforceCredentials, block, connector)
        auth = SalesforceAuth(instance_url or b.instance_url, _secret(b.access_token), b.client_id,
                              _secret(b.client_secret), _secret(b.refresh_token))
        where = f"the SalesforceCredentials block {block!r}"
    else:
        auth = SalesforceAuth(instance_url or _env(f"{env_prefix}_INSTANCE_URL") or "", _env(f"{env_prefix}_ACCESS_TOKEN"),
                              _env(f"{env_prefix}_CLIENT_ID"), _env(f"{env_prefix}_CLIENT_SECRET"),
                              _env(f"{env_prefix}_REFRESH_TOKEN"))
        where = f"the environment ({env_prefix}_*)"
    if not auth.instance_url.startswith(("https://", "http://")):
        raise CredentialsError(f"crm {connector}: no instance URL in {where} or sources.yaml (instance_url)")
    if not (auth.access_token or auth.can_refresh):
        raise CredentialsError(f"crm {connector}: {where} has neither an access token nor a client id and secret")
    register(*auth.secrets())
    return auth
