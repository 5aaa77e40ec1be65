"""Walk every URL that takes an object id: only its owner ever reaches the object.

The walk reads the URLconf, so a new URL with a `public_id` is walked without editing this test;
one whose object this file does not know how to make fails until it is taught (OBJECT_FOR_URL).
"""

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.export import export_build
from accounts.models import DataExport
from chat.models import Conversation, MemoryFact, Message
from integrations.models import Connection, SyncRun
from records.models import Coverage, ExplanationOfBenefit, Source
from records.preventive import preventive_check_create
from records.routine import dose_log_create
from records.selectors import RECORD_KINDS
from records.services import record_create
from records.tests.factories import one_of_each
from records.visits import share_link_create, visit_create

METHODS = ["get", "post", "put", "patch", "delete"]


def _object_patterns(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _object_patterns(entry, ns)
        elif isinstance(entry, URLPattern) and "public_id" in entry.pattern.converters:
            yield f"{namespace}{entry.name}", set(entry.pattern.converters)


# URLs reached with something other than a session: they have tests of their own.
NOT_SESSION_URLS = {"integrations:webhook": "authenticated by its secret token (integrations/tests)"}
OBJECT_URLS = sorted(item for item in _object_patterns() if item[0] not in NOT_SESSION_URLS)

# Which of the owner's objects a URL takes, for URLs outside the records kinds.
OBJECT_FOR_URL = {
    "records:document_download": "documents",
    "records:care_dose_log": "medications",
    "records:care_dose_delete": "dose_log",
    "records:care_check_delete": "preventive_check",
    "integrations:run": "sync_run",
    "integrations:run_status": "sync_run",
    "integrations:profile_hint_apply": "sync_run",
    "integrations:connection": "connection",
    "integrations:disconnect": "connection",
    "integrations:delete_data": "connection",
    "smart_fhir:sync": "connection",
    "withings:sync": "connection",
    "oura:sync": "connection",
    "chat:conversation": "conversation",
    "chat:send": "conversation",
    "chat:stream": "conversation",
    "chat:rename": "conversation",
    "chat:delete": "conversation",
    "chat:message_sent": "assistant_message",
    "chat:symptom_add": "assistant_message",
    "chat:dose_add": "assistant_message",
    "chat:memory_edit": "memory",
    "chat:memory_delete": "memory",
    "records:visit_detail": "visit",
    "records:visit_edit": "visit",
    "records:visit_refresh": "visit",
    "records:visit_print": "visit",
    "records:visit_fhir": "visit",
    "records:visit_share": "visit",
    "records:visit_after": "visit",
    "records:visit_follow_up": "visit",
    "records:visit_delete": "visit",
    "records:share_link_revoke": "share_link",
    "records:insurance_plan": "insurance_plan",
    "records:insurance_plan_edit": "insurance_plan",
    "records:insurance_plan_delete": "insurance_plan",
    "records:insurance_cost": "insurance_cost",
    "records:insurance_cost_edit": "insurance_cost",
    "accounts:export_detail": "data_export",
    "accounts:export_status": "data_export",
    "accounts:export_download": "data_export",
}


def owned_objects(owner) -> dict:
    """One object of every kind a URL can name, all belonging to `owner`."""
    objects = one_of_each(owner)
    connection = Connection.objects.create(owner=owner, provider="myfitnesspal")
    objects["connection"] = connection
    objects["sync_run"] = SyncRun.objects.create(owner=owner, connection=connection, kind=SyncRun.Kind.IMPORT)
    objects["conversation"] = conversation = Conversation.objects.create(owner=owner, title="Knee")
    objects["assistant_message"] = Message.objects.create(
        owner=owner, conversation=conversation, role=Message.Role.ASSISTANT, content="Answer", provider="offline"
    )
    objects["memory"] = MemoryFact.objects.create(owner=owner, text="Training for a marathon")
    objects["visit"] = visit_create(user=owner, appointment_at=objects["visits"].effective_at, clinician="GP")
    objects["share_link"], _token, _code = share_link_create(user=owner, visit=objects["visit"])
    objects["dose_log"] = dose_log_create(
        user=owner, medication=objects["medications"], taken=True, at=objects["medications"].effective_at
    )
    objects["preventive_check"] = preventive_check_create(
        user=owner, topic_key="blood_pressure", done_on=objects["visits"].effective_at.date()
    )
    objects["insurance_plan"] = record_create(user=owner, record=Coverage(insurer="Acme Health", deductible="1500"))
    objects["insurance_cost"] = ExplanationOfBenefit.objects.create(
        owner=owner, source=Source.FHIR, source_key="e" * 64, name="GP visit", billed="60", patient_owed="20"
    )
    # A copy of the patient's data, built and waiting in storage (accounts/export.py).
    objects["data_export"] = export_build(export=DataExport.objects.create(owner=owner))
    return objects


def _urls_for(name, params, objects):
    if "kind" in params:
        for kind in RECORD_KINDS:
            yield reverse(name, kwargs={"kind": kind, "public_id": objects[kind].public_id})
    elif name in OBJECT_FOR_URL:
        yield reverse(name, kwargs={"public_id": objects[OBJECT_FOR_URL[name]].public_id})


def _without_csrf(html: bytes) -> bytes:
    # The CSRF token is masked afresh on every response and the language form returns to the
    # requested path; everything else must be identical.
    html = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)
    return re.sub(rb'name="next" type="hidden" value="[^"]+"', b"", html)


def _snapshot(records):
    return {kind: type(record).objects.filter(pk=record.pk).values().first() for kind, record in records.items()}


def test_the_walk_finds_the_object_urls():
    names = {name for name, _params in OBJECT_URLS}
    assert {"records:detail", "records:edit", "records:delete", "records:document_download"} <= names
    assert {"integrations:run", "integrations:connection", "integrations:disconnect"} <= names


@pytest.mark.parametrize(("name", "params"), OBJECT_URLS, ids=[name for name, _ in OBJECT_URLS])
def test_only_the_owner_reaches_an_object(name, params, patient, other_patient, staff):
    records = owned_objects(patient)
    before = _snapshot(records)
    owner, other, staff_client, anonymous = Client(), Client(), Client(), Client()
    owner.force_login(patient)
    other.force_login(other_patient)
    staff_client.force_login(staff)
    urls = list(_urls_for(name, params, records))
    assert urls, f"{name}: no object to walk it with: add it to OBJECT_FOR_URL"
    for url in urls:
        # POST-only URLs (delete, disconnect) answer 405 to a GET, even to the owner.
        assert owner.get(url).status_code in (200, 405), f"the owner cannot open {url}"
        for method in METHODS:
            for client, who in ((other, "another patient"), (staff_client, "staff")):
                response = getattr(client, method)(url)
                # Staff never gave health-data consent: the gate sends them to the consent page.
                gated = response.status_code == 302 and response.url == reverse("accounts:consents")
                assert response.status_code in (404, 405) or gated, (
                    f"{who} got {response.status_code} on {method.upper()} {url}"
                )
            response = getattr(anonymous, method)(url)
            assert response.status_code in (302, 405), f"anonymous got {response.status_code} on {method.upper()} {url}"
            if response.status_code == 302:
                assert response.url.startswith(reverse("account_login"))
    assert _snapshot(records) == before, "a request by someone else changed a record"


@pytest.mark.parametrize("kind", list(RECORD_KINDS))
def test_an_unknown_id_is_the_same_404_as_someone_elses(client, patient, other_patient, kind):
    records = one_of_each(other_patient)
    client.force_login(patient)
    theirs = client.get(reverse("records:detail", kwargs={"kind": kind, "public_id": records[kind].public_id}))
    unknown = client.get(reverse("records:detail", kwargs={"kind": kind, "public_id": uuid.uuid4()}))
    assert theirs.status_code == unknown.status_code == 404
    assert _without_csrf(theirs.content) == _without_csrf(unknown.content)


def _test_key_patterns(resolver=None, namespace=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _test_key_patterns(entry, ns)
        elif isinstance(entry, URLPattern) and "test_key" in entry.pattern.converters:
            yield f"{namespace}{entry.name}"


TEST_KEY_URLS = sorted(_test_key_patterns())


def test_the_walk_finds_the_lab_test_urls():
    assert "records:lab_test" in TEST_KEY_URLS


@pytest.mark.parametrize("name", TEST_KEY_URLS)
def test_only_the_owner_reaches_a_lab_test_history(name, patient, other_patient, staff):
    records = one_of_each(patient)
    url = reverse(name, kwargs={"test_key": records["lab-results"].test_key})
    owner, other, staff_client, anonymous = Client(), Client(), Client(), Client()
    owner.force_login(patient)
    other.force_login(other_patient)
    staff_client.force_login(staff)
    assert owner.get(url).status_code == 200
    for method in METHODS:
        assert getattr(other, method)(url).status_code in (404, 405)
        response = getattr(staff_client, method)(url)
        assert response.status_code in (404, 405) or response.url == reverse("accounts:consents")
        response = getattr(anonymous, method)(url)
        assert response.status_code in (302, 405)
