"""leadops.redact: every encoding of a secret goes, whatever surrounds it; nothing else does."""
import base64

import pytest

from leadops.redact import REDACTED, redact, secrets_of_settings, secrets_of_url
from leadops.sources.api import excerpt, token_secrets
from tests.support.echo import PADDING, TOKEN, USER, echo_body, forms, leaks


@pytest.mark.parametrize("name", [n for n in forms(TOKEN) if n != "first characters"])
def test_each_encoding_of_a_secret_is_redacted_wherever_it_sits(name):
    form = forms(TOKEN)[name]
    for text in (form, f"error: {form}.", f"{{\"received\": \"{form}\"}}", f"x{form}y"):
        out = redact(text, [TOKEN])
        assert leaks(out, TOKEN) == [] and REDACTED in out, (name, out)


@pytest.mark.parametrize("prefix", ["", "Bearer ", "api-user:", "\0api-user\0", "ab", "abc"])
def test_base64_of_any_text_holding_the_secret_is_redacted_at_every_alignment(prefix):
    for suffix in ("", "x", "xy", " trailing words"):
        encoded = base64.b64encode(f"{prefix}{TOKEN}{suffix}".encode()).decode()
        out = redact(f"got {encoded} from you", [TOKEN])
        assert REDACTED in out and out.startswith("got ") and out.endswith(" from you")
        # at most the two bytes at each end of the secret share a base64 group with their neighbours
        left = out[4:out.index(REDACTED)]
        assert len(left) <= len(base64.b64encode(prefix.encode()).decode().rstrip("=")) + 1


def test_text_without_secrets_is_unchanged_and_short_values_are_not_secrets():
    text = "source crm: GET http://127.0.0.1/api: HTTP 500: 'internal error'"
    assert redact(text, [TOKEN, "ab", None, ""]) == text
    assert redact(None, [TOKEN]) is None and redact("", [TOKEN]) == ""


def test_redaction_runs_before_the_cut_so_no_first_characters_survive():
    body = echo_body("Bearer " + TOKEN, TOKEN)
    assert body.index(TOKEN) < 200 < body.index(TOKEN) + len(TOKEN)  # the secret straddles the cut
    quoted = excerpt(body, [TOKEN])
    assert leaks(quoted, TOKEN) == [] and quoted.startswith(repr(PADDING.strip()[:20])[:-1])


def test_a_basic_token_exposes_its_password_and_user_password_pair():
    token = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    secrets = token_secrets(token, "Basic ")
    assert TOKEN in secrets and f"{USER}:{TOKEN}" in secrets
    assert leaks(redact(f"user {USER} password {TOKEN}", secrets), TOKEN) == []


def test_settings_secrets_cover_smtp_password_webhook_url_parts_and_database_password():
    from pydantic import SecretStr

    from leadops.config import Settings

    s = Settings(smtp_username="mailer", smtp_password=SecretStr(TOKEN),
                 webhook_url=SecretStr("https://hook:p%40ss-w0rd@hooks.example.com/services/T0/B0/XyZ123456?token=q-s3cret-q"),
                 database_url="postgresql+psycopg://leadops:db-pa%24%24word@127.0.0.1/leadops")
    secrets = secrets_of_settings(s)
    text = ("smtp " + TOKEN + " hook p@ss-w0rd and /services/T0/B0/XyZ123456 token q-s3cret-q, "
            "db db-pa$$word (db-pa%24%24word)")
    out = redact(text, secrets)
    for value in (TOKEN, "p@ss-w0rd", "XyZ123456", "q-s3cret-q", "db-pa$$word", "db-pa%24%24word"):
        assert value not in out, value
    assert out.startswith("smtp ") and " hook " in out
    assert "https://hook:p%40ss-w0rd@hooks.example.com" in secrets_of_url(s.webhook_url)[0]
