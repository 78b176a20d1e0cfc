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
