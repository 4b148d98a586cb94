"""An outbox message's email bytes (leadops.notify.email_format): built directly or by the standard library, the
same bytes, a valid message that parses back to its headers and body."""
import email
import email.policy

import pytest
from hypothesis import example, given, settings, strategies as st

from leadops.db.repositories.outbox import Message
from leadops.notify.email_format import email_bytes, to_email

ATEXT = st.text(alphabet="abcXYZ019.-_+!#'~`{|}%&*/=?^", min_size=1, max_size=12)
WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=90) | st.text(
    alphabet="aZ9 .,:;()<>[]\"'@=?!-#\t\r\n", max_size=90) | st.text(alphabet="aZ9 ()[]:#.,-", max_size=90)
ADDRESS = st.one_of(
    st.builds(lambda local, d: f"{local}@{d}", ATEXT, st.sampled_from(["example.com", "x", "a-b.c.d", "ex..com", ""])),
    st.builds(lambda n, local: f"{n} <{local}@example.com>", WORDS, ATEXT), WORDS)
BODY = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400) | st.lists(
    st.text(alphabet="ab c=\t.é", max_size=120), max_size=12).map("\n".join)


#: values the direct path takes (most of them): printable ASCII, atoms, simple addresses
PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=1, max_size=80)
ATOMS = st.lists(st.text(alphabet="abXY09!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=8), min_size=1, max_size=4).map(" ".join)
PLAIN_ADDRESS = st.one_of(
    st.builds(lambda local, d: f"{local}@{d}", ATEXT, st.sampled_from(["example.com", "x", "a-b.c.d"])),
    st.builds(lambda n, local: f"{n} <{local}@example.com>", ATOMS, ATEXT))


def _message(key="route:42:7", recipient="alice.sdr@example.com", subject="[leadops] New lead for you: Jane Doe (Acme)",
             body="Hello Alice,\n\nLead #42 is yours.\n", kind="assignment"):
    return Message(key=key, kind=kind, recipient=recipient, subject=subject, body=body, lead_id=42)


def _assert_the_standard_librarys_bytes(sender, recipient, subject, key, body):
    """email_bytes gives what the standard library gives for the message, or raises what it raises."""
    msg = _message(key=key, recipient=recipient, subject=subject, body=body)
    try:
        expected = bytes(to_email(msg, sender))
    except Exception as exc:  # noqa: BLE001 - a value the standard library refuses (or trips on): so must this
        with pytest.raises(type(exc)):
            email_bytes(msg, sender)
        return
    assert email_bytes(msg, sender) == expected


@settings(max_examples=1000, deadline=None)
@given(sender=ADDRESS, recipient=ADDRESS, subject=WORDS, key=WORDS, body=BODY)
@example(sender="leadops <leadops@example.com>", recipient="bob@example.com", subject="x" * 69, key="k",
         body="a" * 78 + "\n" + "b" * 79)  # a Subject line of exactly 78 characters; a 7bit and a folded body line
@example(sender="leadops@localhost", recipient="bob@example.com", subject="y" * 70, key="=?utf-8?q?x?=", body="é\n")
@example(sender="Lead Ops <leadops@example.com>", recipient="J. Smith <j@example.com>", subject="Müller", key="k",
         body="")
def test_the_bytes_are_the_standard_librarys_whichever_way_they_are_built(sender, recipient, subject, key, body):
    _assert_the_standard_librarys_bytes(sender, recipient, subject, key, body)


def test_an_assignment_email_is_a_parseable_message_with_its_headers_and_body():
    body = ("Hello Alice Smith,\n\nLead #12345 is yours: Jane Doe, Head of Operations at Acme Industries (DE), "
            "grade A.\nWhy you: account owner (acme.com).\nFirst touch due by Mon 07 Dec 11:30 (Europe/Berlin).\n")
    raw = email_bytes(_message(body=body), "leadops <leadops@example.com>")
    assert raw == bytes(to_email(_message(body=body), "leadops <leadops@example.com>"))
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["To"] == "alice.sdr@example.com" and parsed["X-Leadops-Key"] == "route:42:7"
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith(".leadops@example.com>")
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"  # a line longer than 78 characters
    assert parsed.get_content() == body


def test_a_weekly_report_and_non_ascii_headers_go_through_the_standard_library():
    report = _message(kind="weekly_report", body="<html><body>report</body></html>")
    # (its MIME boundary is random: not compared byte for byte)
    assert b"multipart/alternative" in email_bytes(report, "leadops@localhost")
    named = _message(subject="[leadops] New lead for you: Léa Müller (Bäckerei)")
    raw = email_bytes(named, "leadops@localhost")
    assert b"=?utf-8?" in raw and raw == bytes(to_email(named, "leadops@localhost"))


@settings(max_examples=1000, deadline=None)
@given(sender=PLAIN_ADDRESS, recipient=PLAIN_ADDRESS, subject=PRINTABLE, key=PRINTABLE, body=BODY)
def test_plain_headers_give_the_standard_librarys_bytes(sender, recipient, subject, key, body):
    _assert_the_standard_librarys_bytes(sender, recipient, subject, key, body)
