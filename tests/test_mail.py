"""Mail through the outbox: queued idempotently, sent by the worker over real SMTP (aiosmtpd),
retried with backoff on a 4xx or a dead server, given up with its reason on a 5xx; in
development without SMTP_URL, written as files."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from api.services.notify import mail, outbox
from api.services.notify.push import LogChannel

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def after(moment, start) -> int:
    """Whole seconds from `start`, ignoring the milliseconds the send itself took."""
    return int((moment - start).total_seconds())


def queue(key="verify:1", to="ana@example.org", now=NOW):
    return outbox.enqueue_mail(
        key=key, to=to, subject="Your CarePact code", text="Your code is 482 913.", now=now
    )


def test_a_queued_mail_arrives_once_whatever_the_retries(app, mongo, smtp_server):
    assert queue() is True
    assert queue() is False  # the same key: nothing queued twice
    assert mongo.outbox.count_documents({}) == 1
    assert smtp_server.deliver_outbox(NOW) == {"mail_sent": 1}
    assert smtp_server.deliver_outbox(NOW + timedelta(hours=1)) == {}
    assert queue() is False  # a retried request after the send: still once
    assert smtp_server.deliver_outbox(NOW + timedelta(hours=2)) == {}
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ana@example.org"]
    assert received.subject == "Your CarePact code"
    assert received.text.strip() == "Your code is 482 913."
    assert received.message["From"] == "CarePact <no-reply@carepact.test>"
    assert received.message["Message-ID"] == mail.message_id("mail:verify:1")
    stored = mongo.outbox.find_one({"_id": "mail:verify:1"})
    assert (stored["state"], stored["attempts"], stored["done_at"] is not None) == ("sent", 1, True)
    assert "text" not in stored  # the code does not outlive its sending


def test_a_mail_not_yet_due_waits(app, smtp_server):
    queue(now=NOW)
    assert smtp_server.deliver_outbox(NOW - timedelta(seconds=1)) == {}
    assert smtp_server.messages == []


def test_a_temporary_refusal_backs_off_then_sends(app, mongo, smtp_server):
    queue()
    smtp_server.refuse_with = "451 Try again later"
    assert smtp_server.deliver_outbox(NOW) == {"mail_retrying": 1}
    first = mongo.outbox.find_one()
    assert first["state"] == "pending" and "451" in first["last_error"]
    assert after(first["due_at"], NOW) == 15  # the backoff, from when the attempt was made
    assert smtp_server.deliver_outbox(NOW + timedelta(seconds=14)) == {}
    assert smtp_server.deliver_outbox(first["due_at"]) == {"mail_retrying": 1}
    second = mongo.outbox.find_one()
    assert after(second["due_at"], first["due_at"]) == 30  # doubled
    smtp_server.refuse_with = None
    assert smtp_server.deliver_outbox(second["due_at"]) == {"mail_sent": 1}
    assert len(smtp_server.messages) == 1


def test_a_permanent_refusal_is_kept_with_its_reason(app, mongo, smtp_server):
    queue(to="nobody@example.org")
    smtp_server.refuse_with = "550 No such user here"
    assert smtp_server.deliver_outbox(NOW) == {"mail_failed": 1}
    stored = mongo.outbox.find_one()
    assert stored["state"] == "failed" and "550" in stored["last_error"]
    assert smtp_server.deliver_outbox(NOW + timedelta(days=1)) == {}


def test_a_dead_server_is_retried_until_the_attempts_run_out(app, mongo):
    queue()
    down = mail.SmtpMailer("smtp://127.0.0.1:9", "CarePact <a@b.test>", timeout=1)
    policy = outbox.Policy(mail_attempts=3)
    at, outcomes = NOW, []
    for _ in range(3):
        counts = outbox.send_due(now=at, worker="w", push=LogChannel(), mailer=down, policy=policy)
        outcomes.append(counts)
        at = mongo.outbox.find_one()["due_at"].replace(tzinfo=UTC)
    assert outcomes == [{"mail_retrying": 1}, {"mail_retrying": 1}, {"mail_failed": 1}]
    stored = mongo.outbox.find_one()
    assert stored["state"] == "failed"
    assert stored["last_error"].endswith("after 3 attempts")


def test_development_writes_each_mail_to_a_file_and_says_where(app, tmp_path, caplog):
    mailer = mail.mailer_from_settings(
        {"CAREPACT_ENV": "development", "MAIL_DIR": str(tmp_path), "MAIL_FROM": "x <x@y.test>"}
    )
    queue(key="reset:42")
    with caplog.at_level(logging.INFO, logger="carepact.mail"):
        counts = outbox.send_due(now=NOW, worker="w", push=LogChannel(), mailer=mailer)
    assert counts == {"mail_sent": 1}
    [path] = tmp_path.iterdir()
    assert "Your code is 482 913." in path.read_text()
    [record] = [r for r in caplog.records if r.getMessage() == "mail written"]
    assert record.fields["path"] == str(path.resolve())


def test_production_needs_an_smtp_server():
    with pytest.raises(ValueError, match="SMTP_URL"):
        mail.mailer_from_settings({"CAREPACT_ENV": "production"})
    with pytest.raises(ValueError, match="smtp://"):
        mail.SmtpMailer("http://mail.example.org", "x@y.test")
    smtps = mail.SmtpMailer("smtps://u%40x:p%2Fw@mail.example.org", "x@y.test")
    assert (smtps.tls, smtps.port, smtps.user, smtps.password) == (True, 465, "u@x", "p/w")
