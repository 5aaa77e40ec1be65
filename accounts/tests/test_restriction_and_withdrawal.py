"""Withdrawing a consent takes effect at once, and restriction (GDPR Art. 18) freezes every processing
while keeping the data: no sync, no outside AI call, no sharing; lifting it lets everything resume."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, ConsentPurpose
from accounts.selectors import consent_is_granted
from accounts.services import consent_set
from chat import services as chat_services
from chat.models import Message
from integrations.models import Connection, SyncRun
from integrations.providers.withings.tasks import withings_sync_task
from integrations.services import connections_sync_due
from integrations.tests.test_withings import _connect
from records import visits
from records.exceptions import RecordError
from records.models import SampleDay
from records.tests.visit_factories import prepared_visit


def ask(owner, text="CALL medications {} Which medications do I take?") -> Message:
    conversation = chat_services.conversation_create(owner=owner)
    for _event in chat_services.message_reply(owner=owner, text=text, language="en", conversation=conversation):
        pass
    return conversation.messages.filter(role=Message.Role.ASSISTANT).last()


def data_calls(server) -> list:
    """Requests that fetch data from Withings (not sign-in, nonce or revocation)."""
    return [call for call in server.requests if "oauth2" not in call[1] and "signature" not in call[1]]


def run_sync(run: SyncRun) -> SyncRun:
    withings_sync_task.apply(args=[run.pk])
    run.refresh_from_db()
    return run


# -- consents ------------------------------------------------------------------------------------------


def test_withdrawing_a_source_consent_revokes_its_tokens_and_stops_the_next_sync(
    patient_client, patient, withings, django_capture_on_commit_callbacks
):
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    page = patient_client.get(reverse("accounts:consents")).content.decode()
    assert "Importing from Withings" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(reverse("accounts:consent_change"), {"purpose": "source:withings"})

    assert response.url == reverse("accounts:consents")
    assert not consent_is_granted(user=patient, purpose="source:withings")
    connection = Connection.objects.get(owner=patient)
    assert connection.status == Connection.Status.DISCONNECTED and connection.credentials is None
    assert withings.revoked_users == [withings.userid], "the tokens are revoked at Withings"
    # The sync queued before the withdrawal runs now: it fetches nothing and writes nothing.
    run = run_sync(run)
    assert run.error_code == "not_connected" and data_calls(withings) == []
    assert not SampleDay.objects.filter(owner=patient).exists()
    page = patient_client.get(reverse("accounts:consents")).content.decode()
    assert "Connect it again" in page


def test_a_source_consent_is_not_given_from_the_consents_page(patient_client, patient):
    response = patient_client.post(reverse("accounts:consent_change"), {"purpose": "source:withings", "granted": "on"})
    assert response.status_code == 400
    assert patient_client.post(reverse("accounts:consent_change"), {"purpose": "source:nowhere"}).status_code == 400
    assert not consent_is_granted(user=patient, purpose="source:withings")


def test_withdrawing_the_assistant_consent_stops_the_next_outside_call(patient_client, patient, fake_openai):
    consent_set(user=patient, purpose=ConsentPurpose.AI_ASSISTANT, granted=True)
    assert ask(patient).provider == "openai"
    sent = len(fake_openai.requests)
    assert sent > 0

    patient_client.post(reverse("accounts:consent_change"), {"purpose": "ai_assistant"})

    answer = ask(patient)
    assert (answer.provider, answer.note) == ("offline", "no_consent")
    assert len(fake_openai.requests) == sent and answer.sent == []


# -- restriction -----------------------------------------------------------------------------------------


def test_restriction_freezes_syncs_outside_ai_and_sharing_then_lifting_resumes(
    patient_client, patient, withings, fake_openai, django_capture_on_commit_callbacks
):
    consent_set(user=patient, purpose=ConsentPurpose.AI_ASSISTANT, granted=True)
    run = _connect(patient_client, django_capture_on_commit_callbacks)
    visit = prepared_visit(patient)
    _link, token, _code = visits.share_link_create(user=patient, visit=visit)
    shared = reverse("shared:view", args=[token])
    unknown = Client().get(reverse("shared:view", args=["x" * 43])).content
    assert Client().get(shared).status_code == 200

    response = patient_client.post(reverse("accounts:restriction_change"), {"restrict": "on"})
    assert response.url == reverse("accounts:restriction")

    # Sharing: the link answers exactly as an unknown one, and no new link can be made.
    refused = Client().get(shared)
    assert refused.status_code == 404 and refused.content == unknown
    with pytest.raises(RecordError):
        visits.share_link_create(user=patient, visit=visit)
    # The assistant: the offline engine answers, nothing leaves, and the page says why.
    answer = ask(patient)
    assert (answer.provider, answer.note) == ("offline", "restricted") and fake_openai.requests == []
    assert "you restricted the processing of your data" in patient_client.get(reverse("chat:index")).content.decode()
    # Syncs: the queued one stops with the reason, no call to the source; none is queued by beat.
    run = run_sync(run)
    assert run.outcome == SyncRun.Outcome.FAILED and run.error_code == "restricted"
    assert data_calls(withings) == [] and not SampleDay.objects.filter(owner=patient).exists()
    with django_capture_on_commit_callbacks(execute=False):
        assert connections_sync_due() == 0
    # The data is kept, and the patient still sees it.
    assert Connection.objects.get(owner=patient).credentials
    assert patient_client.get(reverse("accounts:inventory")).status_code == 200

    patient_client.post(reverse("accounts:restriction_change"))

    assert Client().get(shared).status_code == 200
    assert ask(patient).provider == "openai"
    with django_capture_on_commit_callbacks(execute=False):
        assert connections_sync_due() == 1
    actions = set(AuditEvent.objects.filter(subject=patient).values_list("action", flat=True))
    assert {"privacy.restricted", "privacy.restriction_lifted"} <= actions


def test_restricting_twice_is_one_event_and_the_page_shows_the_state(patient_client, patient):
    for _ in range(2):
        patient_client.post(reverse("accounts:restriction_change"), {"restrict": "on"})
    assert AuditEvent.objects.filter(subject=patient, action="privacy.restricted").count() == 1
    page = patient_client.get(reverse("accounts:restriction")).content.decode()
    assert "Restricted since" in page and "Lift the restriction" in page
    assert "Restricted: your data is kept" in patient_client.get(reverse("accounts:privacy")).content.decode()


def test_a_webhook_stores_nothing_while_restricted(client, patient_client, patient):
    from integrations.views import TOKEN_HEADER

    setup = patient_client.post(reverse("integrations:webhook_setup", args=["health-auto-export"]))
    url, token = setup.context["url"], setup.context["token"]
    patient_client.post(reverse("accounts:restriction_change"), {"restrict": "on"})

    response = client.post(
        url,
        b'{"data": {"metrics": []}}',
        content_type="application/json",
        **{f"HTTP_{TOKEN_HEADER.upper().replace('-', '_')}": token},
    )

    assert response.status_code == 400
    assert not SyncRun.objects.filter(owner=patient).exists()
