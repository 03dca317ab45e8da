"""Email content: templates per kind, autoescaping, headers nobody can inject into, the SMTP
URL's forms, and what the console may show of a message."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import msgspec
import pytest

from store import Settings, Store
from store.messaging.emails import (
    HeaderInjectionError,
    TemplateProblem,
    build_message,
    known_kinds,
    render,
)
from store.messaging.emails.render import TEMPLATES, environment
from store.messaging.outbox import (
    REDACTED,
    SCRUBBED,
    OutboxMessage,
    enqueue,
    get_message,
    render_for_view,
    scrubbed_payload,
)
from store.messaging.smtp_url import SmtpUrlError, parse_smtp_url

from .fixtures_smtp import (
    SmtpServer,
    all_status,
    deliver_until,
    mail_store,
    smtp_server,
)

__all__ = ["mail_store", "smtp_server"]

EVIL_NAME = 'Eve\r\nBcc: victim@example.org\r\n\r\n<script>alert("x")</script>'


def parse(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(
        message.as_bytes(policy=email.policy.SMTP), policy=email.policy.default
    )
    assert isinstance(parsed, EmailMessage)
    return parsed


# ---------------------------------------------------------------- templates


def test_every_kind_has_subject_text_and_html_that_compile() -> None:
    kinds = known_kinds()
    assert "test" in kinds
    env = environment()
    for kind in kinds:
        for suffix in (".subject.txt", ".txt", ".html"):
            assert (TEMPLATES / f"{kind}{suffix}").is_file(), f"{kind}{suffix} is missing"
            env.get_template(f"{kind}{suffix}")
    for path in TEMPLATES.glob("*.txt"):
        kind = path.name.split(".")[0]
        assert kind.startswith("_") or kind in kinds, f"{path.name} has no subject template"


def test_render_fills_layout_with_org_and_public_url(settings: Settings) -> None:
    acme = msgspec.structs.replace(settings, org="Acme Corp", public_url="https://join.acme.org")
    rendered = render(
        "test", {"sent_by": "alice"}, acme, recipient="ann@acme.org", recipient_name="Ann Lee"
    )
    assert rendered.subject == "Test message from Acme Corp"
    assert "Hello Ann Lee," in rendered.text
    assert "sent by alice" in rendered.text
    assert rendered.text.rstrip().endswith("Acme Corp\nhttps://join.acme.org")
    assert "\n-- \n" in rendered.text  # the signature separator keeps its space
    assert 'href="https://join.acme.org"' in rendered.html
    assert "Acme Corp" in rendered.html


def test_html_is_autoescaped_and_text_is_not(settings: Settings) -> None:
    rendered = render(
        "test", {"sent_by": "<b>Bob & co</b>"}, settings, recipient="a@b.org", recipient_name="x"
    )
    assert "&lt;b&gt;Bob &amp; co&lt;/b&gt;" in rendered.html
    assert "<b>Bob" not in rendered.html
    assert "<b>Bob & co</b>" in rendered.text


def test_a_missing_value_or_unknown_kind_is_an_error_not_a_blank(settings: Settings) -> None:
    with pytest.raises(TemplateProblem, match="sent_by"):
        render("test", {}, settings)
    with pytest.raises(TemplateProblem, match="no email template"):
        render("no_such_kind", {}, settings)
    with pytest.raises(TemplateProblem, match="not a valid"):
        render("../etc/passwd", {}, settings)
    with pytest.raises(TemplateProblem, match="not a valid"):
        render("_layout", {}, settings)


def test_bookkeeping_keys_are_not_template_values(settings: Settings) -> None:
    rendered = render("test", {"sent_by": "x", "_secret_keys": ["sent_by"]}, settings)
    assert "_secret_keys" not in rendered.text


# ---------------------------------------------------------------- headers


def test_a_hostile_name_cannot_add_headers_and_stays_inert_in_html(settings: Settings) -> None:
    rendered = render(
        "test", {"sent_by": "x"}, settings, recipient="eve@example.org", recipient_name=EVIL_NAME
    )
    message = parse(
        build_message(
            rendered,
            settings,
            recipient="eve@example.org",
            recipient_name=EVIL_NAME,
            message_id="<id1@example.org>",
        )
    )
    assert message["Bcc"] is None
    assert list(message.keys()).count("To") == 1
    to = message["To"]
    assert to.addresses[0].addr_spec == "eve@example.org"
    assert "\n" not in str(to) and "\r" not in str(to)
    assert "Bcc: victim@example.org" in to.addresses[0].display_name  # folded into the name
    html = message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<script>" not in content
    assert "&lt;script&gt;" in content
    text = message.get_body(("plain",))
    assert text is not None
    assert "Hello Eve Bcc: victim@example.org" in text.get_content()


@pytest.mark.parametrize(
    "address",
    ["a@example.org\r\nBcc: b@example.org", "a@example.org\n", "a\x00@example.org", "nobody"],
)
def test_addresses_with_line_breaks_are_refused(settings: Settings, address: str) -> None:
    rendered = render("test", {"sent_by": "x"}, settings)
    with pytest.raises(HeaderInjectionError):
        build_message(rendered, settings, recipient=address, message_id="<m@x>")


def test_sender_and_message_id_with_line_breaks_are_refused(settings: Settings) -> None:
    rendered = render("test", {"sent_by": "x"}, settings)
    bad_from = msgspec.structs.replace(settings, mail_from="usher@x.org\r\nBcc: y@z.org")
    with pytest.raises(HeaderInjectionError):
        build_message(rendered, bad_from, recipient="a@b.org", message_id="<m@x>")
    with pytest.raises(HeaderInjectionError):
        build_message(rendered, settings, recipient="a@b.org", message_id="<m@x>\r\nX: y")


def test_org_and_subject_are_folded_to_one_line(settings: Settings) -> None:
    odd = msgspec.structs.replace(settings, org="Acme\r\nBcc: x@y.org", mail_from="u@acme.org")
    rendered = render("test", {"sent_by": "x"}, odd)
    assert "\n" not in rendered.subject
    message = parse(build_message(rendered, odd, recipient="a@b.org", message_id="<m@acme.org>"))
    assert message["Bcc"] is None
    assert message["From"].addresses[0].display_name == "Acme Bcc: x@y.org"
    assert message["Subject"] == "Test message from Acme Bcc: x@y.org"


def test_message_headers_and_parts(settings: Settings) -> None:
    named = msgspec.structs.replace(settings, org="Acme", mail_from="usher@acme.org")
    rendered = render("test", {"sent_by": "x"}, named, recipient="zoë@bücher.de")
    message = parse(
        build_message(
            rendered,
            named,
            recipient="ann@bücher.de",
            recipient_name="Zoë Ünal",
            message_id="<abc@acme.org>",
        )
    )
    assert message["From"].addresses[0].addr_spec == "usher@acme.org"
    assert message["From"].addresses[0].display_name == "Acme"
    assert message["To"].addresses[0].addr_spec == "ann@xn--bcher-kva.de"
    assert message["To"].addresses[0].display_name == "Zoë Ünal"
    assert message["Message-ID"] == "<abc@acme.org>"
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]


async def test_a_hostile_name_is_delivered_inert_over_smtp(
    mail_store: Store, smtp_server: SmtpServer
) -> None:
    async with mail_store.write() as tx:
        await enqueue(
            tx,
            mail_store.settings,
            to="eve@example.org",
            kind="test",
            values={"sent_by": "<img src=x onerror=alert(1)>"},
            name=EVIL_NAME,
        )
    await deliver_until(mail_store, all_status(mail_store, "sent", 1))
    [received] = smtp_server.received
    assert received.rcpt_tos == ["eve@example.org"]
    message = received.message
    assert message["Bcc"] is None
    assert b"\nBcc:" not in received.data
    html = message.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "<img" not in html.get_content()


# ---------------------------------------------------------------- what the console shows


async def test_tokens_are_hidden_unless_kept(settings: Settings) -> None:
    smtp = msgspec.structs.replace(settings, smtp_url="smtp://127.0.0.1:1")
    async with await Store.open(smtp) as store:
        async with store.write() as tx:
            queued = await enqueue(
                tx,
                store.settings,
                to="a@example.org",
                kind="test",
                values={"sent_by": "https://x/join/TOKEN-Q"},
                secret_keys=["sent_by"],
            )
        message = await get_message(store, queued)
        assert message is not None
        assert message.status == "queued"
        view = render_for_view(message, store.settings)
        assert "TOKEN-Q" not in view.text
        assert REDACTED in view.text
    async with await Store.open(settings) as store:
        async with store.write() as tx:
            kept = await enqueue(
                tx,
                store.settings,
                to="a@example.org",
                kind="test",
                values={"sent_by": "https://x/join/TOKEN-K"},
                secret_keys=["sent_by"],
            )
        message = await get_message(store, kept)
        assert message is not None
        assert message.status == "kept"
        assert "https://x/join/TOKEN-K" in render_for_view(message, store.settings).text


def test_scrubbing_replaces_only_secret_values() -> None:
    payload = msgspec.json.encode(
        {"url": "https://x/join/T", "name": "Ann", "_secret_keys": ["url"]}
    ).decode()
    values = msgspec.json.decode(scrubbed_payload(payload))
    assert values == {"url": SCRUBBED, "name": "Ann", "_secret_keys": ["url"]}


def test_a_scrubbed_message_shows_the_marker_not_redacted() -> None:
    message = msgspec.convert(
        {
            "id": 1,
            "recipient": "a@b.org",
            "kind": "test",
            "payload": msgspec.json.encode(
                {"sent_by": SCRUBBED, "_secret_keys": ["sent_by"]}
            ).decode(),
            "status": "sent",
            "next_attempt_at": "2024-01-01T00:00:00.000000Z",
            "message_id": "<m@x>",
            "created_at": "2024-01-01T00:00:00.000000Z",
        },
        OutboxMessage,
        strict=False,
    )
    assert message.shown_values()["sent_by"] == SCRUBBED


# ---------------------------------------------------------------- the SMTP URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", {"host": "mail.example.org", "port": 25, "starttls": None}),
        (
            "smtp://bob:p%40ss%3Aword@mail.example.org:587?starttls=1",
            {"username": "bob", "password": "p@ss:word", "port": 587, "starttls": True},
        ),
        ("smtps://u:p@smtp.example.org", {"implicit_tls": True, "port": 465, "starttls": False}),
        ("smtp://[::1]:2525?starttls=0", {"host": "::1", "port": 2525, "starttls": False}),
        ("SMTP://relay:26?verify=0&timeout=5", {"verify": False, "timeout": 5.0}),
        ("smtp://relay/?cafile=/etc/ca.pem", {"cafile": "/etc/ca.pem"}),
        ("smtp://user%20name@relay", {"username": "user name", "password": ""}),
    ],
)
def test_smtp_url_forms(url: str, expected: dict[str, object]) -> None:
    target = parse_smtp_url(url)
    for field, value in expected.items():
        assert getattr(target, field) == value, field


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("http://mail.example.org", "smtp:// or smtps://"),
        ("mail.example.org:25", "smtp://user:pass@host:port"),
        ("smtp://", "no host"),
        ("smtp://relay:99999", "port"),
        ("smtp://relay:abc", "port"),
        ("smtp://relay/path", "no path"),
        ("smtp://relay?starttls=maybe", "starttls must be 1 or 0"),
        ("smtp://relay?tls=1", "unknown option 'tls'"),
        ("smtps://relay?starttls=1", "already TLS"),
        ("smtp://:secret@relay", "password but no user"),
        ("smtp://relay?timeout=never", "timeout"),
        ("smtp://re\r\nlay", "one line"),
    ],
)
def test_smtp_url_errors_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(SmtpUrlError, match=message.replace("?", r"\?").replace("(", r"\(")):
        parse_smtp_url(url)


def test_describe_never_shows_the_password() -> None:
    target = parse_smtp_url("smtp://bob:hunter2@mail.example.org:587?starttls=1")
    assert "hunter2" not in target.describe()
    assert target.describe() == "mail.example.org:587 (STARTTLS, as bob)"
    assert parse_smtp_url("smtps://h").describe() == "h:465 (TLS)"
