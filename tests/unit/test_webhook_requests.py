"""What a request to the intake service carries: its sender (bearer token, HMAC signature with a timestamp), its
leads (JSON object, JSON array, form post) and its idempotency key; each refusal with its status and one line."""
from __future__ import annotations

import pytest

from leadops.config import WebhookSource
from leadops.intake.webhook import Refused, authenticate, idempotency_key, records, sign

SECRET = "0123456789abcdef-secret"
BEARER = WebhookSource(name="form")
HMAC = WebhookSource(name="signed", auth="hmac", max_skew_seconds=300)


def refused(fn, *args) -> tuple[int, str]:
    with pytest.raises(Refused) as e:
        fn(*args)
    return e.value.status, e.value.reason


def test_a_bearer_token_must_be_the_secret():
    authenticate(BEARER, SECRET, {"authorization": f"Bearer {SECRET}"}, b"{}", 0)
    authenticate(BEARER, SECRET, {"authorization": f"bearer  {SECRET} "}, b"{}", 0)
    assert refused(authenticate, BEARER, SECRET, {}, b"{}", 0) == (401, "no bearer token (Authorization: Bearer ...)")
    assert refused(authenticate, BEARER, SECRET, {"authorization": f"Basic {SECRET}"}, b"", 0)[0] == 401
    assert refused(authenticate, BEARER, SECRET, {"authorization": "Bearer nope"}, b"", 0) == (401, "wrong bearer token")


def test_a_signature_covers_the_timestamp_and_the_body_and_expires():
    body, now = b'{"email": "a@b.fr"}', 1_800_000_000
    good = {"x-leadops-timestamp": str(now), "x-leadops-signature": sign(SECRET, now, body)}
    authenticate(HMAC, SECRET, good, body, now + 299)
    assert refused(authenticate, HMAC, SECRET, good, body + b" ", now) == (401, "wrong signature")
    moved = {**good, "x-leadops-timestamp": str(now + 1)}  # the same signature under another time
    assert refused(authenticate, HMAC, SECRET, moved, body, now) == (401, "wrong signature")
    status, reason = refused(authenticate, HMAC, SECRET, good, body, now + 301)
    assert status == 401 and reason.startswith("timestamp 301 s from now (more than 300 s)")
    assert refused(authenticate, HMAC, SECRET, {"x-leadops-timestamp": "yesterday", "x-leadops-signature": "v1=0"},
                   body, now) == (401, "X-Leadops-Timestamp is not epoch seconds")
    assert sign(SECRET, now, body).startswith("v1=") and len(sign(SECRET, now, body)) == 67


def test_leads_come_as_an_object_an_array_or_a_form():
    assert records(BEARER, b'{"email": "a@b.fr"}', "application/json; charset=utf-8") == [{"email": "a@b.fr"}]
    assert records(BEARER, b'[{"email": "a@b.fr"}, {"email": "c@d.fr"}]', "application/json") == [
        {"email": "a@b.fr"}, {"email": "c@d.fr"}]
    assert records(BEARER, b"email=a%40b.fr&first_name=L%C3%A9a&x=1&x=2", "application/x-www-form-urlencoded") == [
        {"email": "a@b.fr", "first_name": "Léa", "x": "2"}]


@pytest.mark.parametrize(("body", "ctype", "status", "says"), [
    (b"<lead/>", "text/xml", 415, "content type text/xml: send application/json or a form post"),
    (b"{", "application/json", 422, "the body is not JSON (JSONDecodeError)"),
    (b'"a@b.fr"', "application/json", 422, "the body is a JSON str, not an object or an array of objects"),
    (b"[]", "application/json", 422, "no lead in the request"),
    (b"[" + b",".join([b"{}"] * 101) + b"]", "application/json", 413, "101 leads in one request (at most 100): split it"),
])
def test_what_is_not_a_lead_is_refused_with_its_status(body, ctype, status, says):
    assert refused(records, BEARER, body, ctype) == (status, says)


def test_the_idempotency_key_is_the_senders_or_the_bodys():
    assert idempotency_key({"idempotency-key": " form-42 "}, "form", b"x") == "form:key:form-42"
    assert idempotency_key({}, "form", b"x") == idempotency_key({}, "form", b"x") != idempotency_key({}, "form", b"y")
    assert idempotency_key({}, "form", b"x") != idempotency_key({}, "other", b"x")
