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


SF_MESSAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D000000000001EAA</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D000000000001</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D000000000001</PartnerUrl>
   <Notification>
    <Id>04l000000000001AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q000000000001EAA</sf:Id>
     <sf:Company>Atelier Num\xc3\xa9rique SAS</sf:Company>
     <sf:Email>lea@atelier-numerique.fr</sf:Email>
     <sf:FirstName>L\xc3\xa9a</sf:FirstName>
     <sf:LastName>Martin</sf:LastName>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def test_a_salesforce_outbound_message_and_a_hubspot_workflow_webhook_are_read():
    sf = WebhookSource(name="sf", shape="salesforce_outbound", auth="url_token")
    assert records(sf, SF_MESSAGE, "text/xml; charset=utf-8") == [{
        "Id": "00Q000000000001EAA", "Company": "Atelier Numérique SAS", "Email": "lea@atelier-numerique.fr",
        "FirstName": "Léa", "LastName": "Martin"}]
    assert sf.columns["Email"] == "email" and sf.columns["Company"] == "company"  # Salesforce's fields by default
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><x>&lol;</x>'
    assert refused(records, sf, bomb, "text/xml") == (422, "the message declares a DTD: refused")
    hs = WebhookSource(name="hs", shape="hubspot")
    legacy = b'{"vid": 901, "properties": {"email": {"value": "lea@atelier-numerique.fr"}, "firstname": {"value": "L"}}}'
    assert records(hs, legacy, "application/json") == [
        {"email": "lea@atelier-numerique.fr", "firstname": "L", "hs_object_id": 901}]
    chosen = b'{"email": "lea@atelier-numerique.fr", "jobtitle": "DSI"}'
    assert records(hs, chosen, "application/json") == [{"email": "lea@atelier-numerique.fr", "jobtitle": "DSI"}]
    assert hs.columns["jobtitle"] == "job_title"


def test_a_url_token_must_be_the_secret_and_salesforce_needs_one():
    sf = WebhookSource(name="sf", shape="salesforce_outbound", auth="url_token")
    authenticate(sf, SECRET, {}, b"", 0, {"token": SECRET})
    assert refused(authenticate, sf, SECRET, {}, b"", 0, {}) == (401, "no token parameter in the URL (?token=...)")
    assert refused(authenticate, sf, SECRET, {}, b"", 0, {"token": "x"}) == (401, "wrong token")
    with pytest.raises(ValueError, match="Salesforce sends no header of yours; use auth: url_token"):
        WebhookSource(name="sf", shape="salesforce_outbound")


def test_a_slack_button_press_is_verified_and_read():
    from urllib.parse import urlencode

    from leadops.realtime.slack_actions import parse, slack_signature, verify

    body = urlencode({"payload": '{"user": {"id": "U1"}, "response_url": "https://hooks.slack.com/x", '
                                 '"actions": [{"action_id": "leadops_contacted", "value": "42", "action_ts": "1.5"}]}'
                      }).encode()
    good = {"x-slack-request-timestamp": "1000", "x-slack-signature": slack_signature("s" * 20, 1000, body)}
    verify("s" * 20, good, body, 1000 + 299)
    assert refused(verify, "s" * 20, good, body + b"x", 1000) == (401, "wrong signature")
    assert refused(verify, "s" * 20, good, body, 1000 + 301) == (401, "timestamp more than 5 minutes from now: replayed")
    action = parse(body)
    assert (action.user_id, action.action_id, action.lead_id, action.action_ts) == ("U1", "leadops_contacted", 42, "1.5")
    assert refused(parse, b"payload=%7B%7D") == (400, "not a Slack block_actions payload of leadops' buttons")
