"""A dose told in the chat is proposed, and logged only when the patient confirms it, once."""

from __future__ import annotations

import datetime

from django.urls import reverse

from chat import services
from chat.models import Message
from records.models import DoseLog, Medication, Source
from records.selectors import medications_current_for_user

from .patient_data import NOW

DAY = datetime.datetime(2008, 11, 1, 9, tzinfo=datetime.UTC)


def ask(owner, text, *, conversation=None, language="en"):
    conversation = conversation or services.conversation_create(owner=owner)
    for _event in services.message_reply(owner=owner, text=text, language=language, conversation=conversation):
        pass
    return conversation.messages.filter(role=Message.Role.ASSISTANT).last()


def lasix(owner) -> Medication:
    return next(item for item in medications_current_for_user(user=owner) if "Lasix" in item.name)


def test_a_dose_in_the_chat_is_proposed_and_logged_only_when_confirmed(dennis, client):
    answer = ask(dennis, "I took my Lasix at 8am")

    medication = lasix(dennis)
    assert answer.dose_proposal == {
        "medication": str(medication.public_id),
        "name": medication.name,
        "taken": True,
        "at": NOW.replace(hour=8).isoformat(),
    }
    assert answer.symptom_proposal == {}
    assert not DoseLog.objects.exists()  # proposed, not applied
    client.force_login(dennis)
    page = client.get(reverse("chat:conversation", args=[answer.conversation.public_id])).content.decode()
    assert "Add to my medication log" in page and medication.name in page

    url = reverse("chat:dose_add", args=[answer.public_id])
    client.post(url)
    client.post(url)  # a second click logs nothing

    log = DoseLog.objects.get(owner=dennis)
    assert (log.medication, log.taken, log.at) == (medication, True, NOW.replace(hour=8))
    answer.refresh_from_db()
    assert answer.dose_proposal == {}


def test_a_skipped_dose_in_french(dennis, client):
    answer = ask(dennis, "J'ai oublié mon Lasix hier soir", language="fr")

    assert answer.dose_proposal["taken"] is False
    assert answer.dose_proposal["at"] == (NOW - datetime.timedelta(days=1)).replace(hour=19).isoformat()
    client.force_login(dennis)
    client.post(reverse("chat:dose_add", args=[answer.public_id]))
    assert DoseLog.objects.get(owner=dennis).taken is False


def test_no_proposal_for_a_question_or_a_medication_not_in_the_list(dennis):
    assert ask(dennis, "What medications do I take?").dose_proposal == {}
    assert ask(dennis, "I took an aspirin this morning").dose_proposal == {}


def test_a_medication_stopped_since_the_proposal_is_not_logged(dennis, client):
    answer = ask(dennis, "I took my Lasix")
    medication = lasix(dennis)
    medication.status = "stopped"
    medication.save()
    client.force_login(dennis)
    response = client.post(reverse("chat:dose_add", args=[answer.public_id]), follow=True)
    assert "no longer among your current medications" in response.content.decode()
    assert not DoseLog.objects.exists()


def test_only_the_owner_confirms_and_someone_elses_medication_is_never_proposed(dennis, other_patient, client):
    answer = ask(dennis, "I took my Lasix")
    client.force_login(other_patient)
    assert client.post(reverse("chat:dose_add", args=[answer.public_id])).status_code == 404
    assert not DoseLog.objects.exists()
    Medication.objects.create(
        owner=other_patient, name="Zestril 10 mg", status="active", effective_at=DAY, source=Source.MANUAL
    )
    assert ask(dennis, "I took my Zestril").dose_proposal == {}
    assert ask(other_patient, "I took my Lasix").dose_proposal == {}
