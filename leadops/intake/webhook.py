"""What a request to the real-time intake service carries: who sent it (a bearer token or an HMAC signature with a
timestamp) and its leads (a JSON object, a JSON array, or a form post). Pure: no IO.

HMAC scheme (``auth: hmac``): the sender puts the current epoch seconds in ``X-Leadops-Timestamp`` and
``v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`` in ``X-Leadops-Signature``. A timestamp further than
``max_skew_seconds`` from now is refused, so a captured request cannot be replayed later; within the window the
idempotency key makes a replay harmless.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from leadops.config import WebhookSource


class Refused(Exception):
    """The request is refused: ``status`` (401, 413, 415, 422) and one line saying why (never the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """Return the ``X-Leadops-Signature`` value of ``body`` sent at ``timestamp`` (what a sender computes)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def authenticate(cfg: WebhookSource, secret: str, headers: Mapping[str, str], body: bytes, now: float,
                 query: Mapping[str, str] | None = None) -> None:
    """Return when the request is the sender's; raise Refused(401) saying what is wrong otherwise.

    ``headers``: lower-case names; ``query``: the URL's parameters. Comparisons are constant-time."""
    if cfg.auth == "url_token":
        token = (query or {}).get("token", "")
        if not token:
            raise Refused(401, "no token parameter in the URL (?token=...)")
        if not hmac.compare_digest(token.encode(), secret.encode()):
            raise Refused(401, "wrong token")
        return
    if cfg.auth == "bearer":
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refused(401, "no bearer token (Authorization: Bearer ...)")
        if not hmac.compare_digest(token.strip().encode(), secret.encode()):
            raise Refused(401, "wrong bearer token")
        return
    stamp, signature = headers.get("x-leadops-timestamp", ""), headers.get("x-leadops-signature", "")
    if not stamp or not signature:
        raise Refused(401, "no X-Leadops-Timestamp / X-Leadops-Signature")
    try:
        sent = float(stamp)
    except ValueError:
        raise Refused(401, "X-Leadops-Timestamp is not epoch seconds") from None
    if abs(now - sent) > cfg.max_skew_seconds:
        raise Refused(401, f"timestamp {abs(now - sent):.0f} s from now (more than {cfg.max_skew_seconds:.0f} s): "
                           f"replayed or the sender's clock is wrong")
    if not hmac.compare_digest(signature.strip().encode(), sign(secret, stamp, body).encode()):
        raise Refused(401, "wrong signature")


def records(cfg: WebhookSource, body: bytes, content_type: str) -> list[dict[str, Any]]:
    """Return the leads of a request body: a JSON object (one lead), a JSON array of objects (a batch, at most
    ``max_leads``), or a form post (``application/x-www-form-urlencoded``: one lead; a repeated field keeps its last
    value); by ``cfg.shape``, a HubSpot workflow webhook or a Salesforce outbound message. Raises Refused (413 too
    many, 415 another content type, 422 unreadable)."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if cfg.shape == "salesforce_outbound":
        return _limit(cfg, salesforce_outbound(body))
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise Refused(422, "the form is not UTF-8") from None
        found: list[dict[str, Any]] = [dict(pairs)]
    elif kind in ("application/json", "text/json") or kind.endswith("+json"):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refused(422, f"the body is not JSON ({type(exc).__name__})") from None
        found = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
        if not isinstance(data, (dict, list)):
            raise Refused(422, f"the body is a JSON {type(data).__name__}, not an object or an array of objects")
    else:
        raise Refused(415, f"content type {kind or '(none)'}: send application/json or a form post")
    if cfg.shape == "hubspot":
        found = [hubspot_properties(r) if isinstance(r, dict) else r for r in found]
    return _limit(cfg, found)


def _limit(cfg: WebhookSource, found: list[Any]) -> list[Any]:
    if not found:
        raise Refused(422, "no lead in the request")
    if len(found) > cfg.max_leads:
        raise Refused(413, f"{len(found)} leads in one request (at most {cfg.max_leads}): split it")
    return found


def hubspot_properties(record: dict[str, Any]) -> dict[str, Any]:
    """Return a HubSpot workflow webhook's record as flat properties: ``properties`` of ``{"value": ...}`` objects
    (all the contact's properties) or of plain values, else the record itself (the properties chosen in the
    action); the record id as ``hs_object_id``."""
    props = record.get("properties")
    if not isinstance(props, dict):
        return record
    flat = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in props.items()}
    for key in ("hs_object_id", "objectId", "vid"):
        if record.get(key) is not None:
            flat.setdefault("hs_object_id", record[key])
    return flat


SOAP_ACK = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns='
            '"http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body>'
            '</soapenv:Envelope>')


def salesforce_outbound(body: bytes) -> list[dict[str, Any]]:
    """Return the records of a Salesforce outbound message (SOAP: ``notifications`` of ``Notification`` with an
    ``sObject`` each), one dict of field -> text per sObject (``Id`` kept). A document with a DTD is refused (no
    entity expansion)."""
    import xml.etree.ElementTree as ET

    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise Refused(422, "the message declares a DTD: refused")
    try:
        root = ET.fromstring(body)  # noqa: S314 - see above
    except ET.ParseError as exc:
        raise Refused(422, f"the message is not XML ({exc})") from None
    out = []
    for el in root.iter():
        if el.tag.rpartition("}")[2] == "sObject":
            out.append({child.tag.rpartition("}")[2]: (child.text or "").strip() for child in el})
    if not out and root.tag.rpartition("}")[2] != "Envelope":
        raise Refused(422, "not a Salesforce outbound message (no SOAP Envelope)")
    return out


def idempotency_key(headers: Mapping[str, str], webhook: str, body: bytes) -> str:
    """Return the request's idempotency key: ``Idempotency-Key`` when sent (scoped to the webhook), else the hash of
    the body (the same form posted twice is one submission)."""
    given = headers.get("idempotency-key", "").strip()
    if given:
        return f"{webhook}:key:{given[:200]}"
    return f"{webhook}:body:{hashlib.sha256(body).hexdigest()}"
