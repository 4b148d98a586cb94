"""An outbox message as an RFC 5322 email: its Message-ID, the standard library's EmailMessage, and its bytes.

``email_bytes`` is what the file sender writes: the bytes of ``to_email``'s message, built without an
EmailMessage (whose header parsing and rendering cost ~0.7 ms of CPU a message): a header that is plain
ASCII needing no folding, quoting or encoded word is written as is, any other header by the standard
library's header classes alone, the body by the encoding ``set_content`` uses. The bytes are the same as
EmailMessage's (tests/unit/test_email_format.py checks it on generated messages), so a message re-sent
after a crash is byte-identical whichever way it was built.
"""
from __future__ import annotations

import email.policy
import hashlib
import re
# the body encoding EmailMessage.set_content uses (private, not in typeshed; the tests compare with set_content)
from email.contentmanager import _encode_text  # type: ignore[attr-defined]
from email.message import EmailMessage

from leadops.notify.base import Message

#: an unstructured header value written as is: printable ASCII words separated by single spaces, no encoded-word
#: opener (``=?`` would be decoded by the header parser)
_PLAIN = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: an address header written as is: ``local@domain`` or ``Display Name <local@domain>`` (atoms only: nothing the
#: header parser would quote, unquote or encode)
_ADDRESS = re.compile(rf"(?:[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+)* )?"
                      rf"<{_DOT_ATOM}@{_DOMAIN}>|{_DOT_ATOM}@{_DOMAIN}")
_MESSAGE_ID = re.compile(rf"<[0-9a-f]+\.leadops@{_DOMAIN}>")
_POLICY = email.policy.default
#: a header line longer than this is folded by the standard library
_MAX_LINE = _POLICY.max_line_length or 78


def message_id(msg: Message, sender: str) -> str:
    """Return the Message-ID of ``msg``: the same on every attempt (derived from the outbox key, recipient and
    sender address), so a copy re-sent after a crash is the same message to a mail system that de-duplicates."""
    digest = hashlib.sha256(f"{msg.key}\n{msg.recipient}\n{sender}".encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2].strip(" >") or "leadops"
    return f"<{digest}.leadops@{domain}>"


def to_email(msg: Message, sender: str) -> EmailMessage:
    """Return the email of one outbox message (grain: one message); byte-identical on every attempt."""
    em = EmailMessage()
    em["From"] = sender
    em["To"] = msg.recipient
    em["Subject"] = msg.subject
    em["Message-ID"] = message_id(msg, sender)
    # The outbox key travels with the message so a receiver can de-duplicate too.
    em["X-Leadops-Key"] = msg.key
    if getattr(msg, "kind", None) == "weekly_report":
        # the body is the self-contained HTML report (charts inline): a text part, then the HTML
        em.set_content(f"{msg.subject}\n\nThis message holds the report as HTML; open it in a mail client "
                       "that shows HTML, or use the copy in the report folder.\n")
        em.add_alternative(msg.body, subtype="html")
    else:
        em.set_content(msg.body)
    return em


def email_bytes(msg: Message, sender: str) -> bytes:
    """Return ``bytes(to_email(msg, sender))`` (grain: one message), built without EmailMessage but for a weekly
    report (see the module's docstring)."""
    if getattr(msg, "kind", None) == "weekly_report":
        return bytes(to_email(msg, sender))
    head = (_header("From", sender, _ADDRESS) + _header("To", msg.recipient, _ADDRESS)
            + _header("Subject", msg.subject, _PLAIN) + _header("Message-ID", message_id(msg, sender), _MESSAGE_ID)
            + _header("X-Leadops-Key", msg.key, _PLAIN))
    cte, payload = _encode_text(msg.body, "utf-8", None, _POLICY)
    # 8bit bodies keep their UTF-8 bytes as surrogate escapes, as the standard library's generator writes them
    return (f"{head}Content-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: {cte}\n"
            f"MIME-Version: 1.0\n\n{payload}").encode("ascii", "surrogateescape")


def _header(name: str, value: str, shape: re.Pattern[str]) -> str:
    """Return the header line(s) ``name: value`` as EmailMessage writes them: as is when ``value`` has ``shape``
    and fits on a line, else through the standard library's header classes (encoded words, folding, quoting)."""
    if len(name) + 2 + len(value) <= _MAX_LINE and "=?" not in value and shape.fullmatch(value):
        return f"{name}: {value}\n"
    _, header = _POLICY.header_store_parse(name, value)  # raises on a line break, as EmailMessage does
    return str(header.fold(policy=_POLICY))
