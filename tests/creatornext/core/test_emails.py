import pytest
from django.core import mail

from creatornext.core.emails import email_queue, email_send
from creatornext.core.models import OutboundEmail


@pytest.mark.django_db(transaction=True)
def test_templated_email_is_stored_then_sent_once_after_commit():
    # When an app queues a templated email (tasks run eagerly after commit)
    email = email_queue(to=["ana@example.com"], template="test_message", context={"name": "Ana"})

    # Then it went out once, with a text body and an HTML alternative
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ana@example.com"]
    assert sent.subject == "Hello from Creator Next, Ana"
    assert "Hi Ana," in sent.body
    assert sent.alternatives[0][1] == "text/html"
    assert "<p>Hi Ana,</p>" in sent.alternatives[0][0]
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT
    assert email.attempts == 1

    # And sending again (a duplicate task delivery) does not send twice
    email_send(email_id=email.pk)
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_email_is_not_sent_when_the_transaction_rolls_back():
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        email_queue(to=["bo@example.com"], template="test_message", context={"name": "Bo"})
        raise RuntimeError("the business action failed")

    assert mail.outbox == []
    assert not OutboundEmail.objects.exists()


@pytest.mark.django_db
def test_the_sweeper_sends_an_email_whose_task_was_lost_once_and_only_when_due():
    from datetime import timedelta

    from django.utils import timezone

    from creatornext.core.emails import SWEEP_AFTER, emails_send_due

    # Given an email whose send task never ran (queued without a task, as after a crash)
    email = email_queue(to=["cy@example.com"], template="test_message", context={"name": "Cy"}, publish=False)
    assert mail.outbox == []

    # Then the sweeper leaves it alone while its own task may still come
    assert emails_send_due() == 0 and mail.outbox == []
    # And sends it once it is overdue, exactly once however often it sweeps
    later = timezone.now() + SWEEP_AFTER + timedelta(seconds=1)
    assert emails_send_due(now=later) == 1
    assert emails_send_due(now=later) == 0
    assert [m.to for m in mail.outbox] == [["cy@example.com"]]
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT


@pytest.mark.django_db
def test_a_failing_send_is_counted_and_given_up_after_the_last_attempt(monkeypatch):
    from datetime import timedelta

    from django.core.mail.backends.locmem import EmailBackend
    from django.utils import timezone

    from creatornext.core.emails import MAX_ATTEMPTS, SWEEP_AFTER, emails_send_due

    email = email_queue(to=["di@example.com"], template="test_message", context={"name": "Di"}, publish=False)

    def refuse(self, messages):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)  # the mail server, not our code
    later = timezone.now() + SWEEP_AFTER + timedelta(seconds=1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert emails_send_due(now=later) == 0
        email.refresh_from_db()
        assert email.attempts == attempt and "mail server down" in email.last_error
    assert email.status == OutboundEmail.Status.FAILED
    assert emails_send_due(now=later) == 0 and mail.outbox == []


@pytest.mark.django_db
def test_a_chunk_is_sent_together_once_and_skips_what_was_already_sent():
    from creatornext.core.emails import emails_send

    emails = [email_queue(to=[f"e{n}@example.com"], template="test_message", context={"name": f"E{n}"},
                          publish=False) for n in range(3)]
    email_send(email_id=emails[0].pk)  # its own task got there first
    assert emails_send([e.pk for e in emails]) == 2
    assert emails_send([e.pk for e in emails]) == 0
    assert sorted(m.to[0] for m in mail.outbox) == ["e0@example.com", "e1@example.com", "e2@example.com"]
    assert set(OutboundEmail.objects.values_list("status", "attempts")) == {("sent", 1)}
