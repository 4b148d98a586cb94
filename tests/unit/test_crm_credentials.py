"""CRM credentials from the environment (the fallback when no block is named): found, registered for redaction,
or a one-line error that says where they were looked for and never a value."""
import pytest

from leadops.crm.credentials import CredentialsError, hubspot_auth, salesforce_auth
from leadops.redact import redact


def test_hubspot_token_from_the_environment_is_registered_for_redaction(monkeypatch):
    monkeypatch.setenv("HS_TOKEN_T", " pat-na1-abcdef123456 ")
    auth = hubspot_auth("hs", None, "HS_TOKEN_T")
    assert auth.access_token == "pat-na1-abcdef123456" and not auth.can_refresh
    assert redact("answer: pat-na1-abcdef123456") == "answer: <redacted>"


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_hubspot_token_names_the_variable(monkeypatch, value):
    monkeypatch.delenv("HS_TOKEN_T", raising=False)
    if value is not None:
        monkeypatch.setenv("HS_TOKEN_T", value)
    with pytest.raises(CredentialsError, match=r"crm hs: .*HS_TOKEN_T \(it is (empty|not set)\)"):
        hubspot_auth("hs", None, "HS_TOKEN_T")


def test_salesforce_from_the_environment_with_client_credentials(monkeypatch):
    for k in ("ACCESS_TOKEN", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"SFT_{k}", raising=False)
    monkeypatch.setenv("SFT_INSTANCE_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("SFT_CLIENT_ID", "3MVG9-client")
    monkeypatch.setenv("SFT_CLIENT_SECRET", "s3cr3t-client-secret")
    auth = salesforce_auth("sf", None, None, "SFT")
    assert auth.access_token is None and auth.can_refresh and auth.instance_url.endswith("salesforce.com")
    assert "s3cr3t-client-secret" not in redact("x s3cr3t-client-secret")


def test_salesforce_without_url_or_token_says_what_is_missing(monkeypatch):
    for k in ("INSTANCE_URL", "ACCESS_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN"):
        monkeypatch.delenv(f"SFT_{k}", raising=False)
    with pytest.raises(CredentialsError, match="no instance URL"):
        salesforce_auth("sf", None, None, "SFT")
    with pytest.raises(CredentialsError, match="neither an access token nor a client id and secret"):
        salesforce_auth("sf", None, "https://acme.my.salesforce.com", "SFT")
