"""The data inventory and the record of processing activities cover every model that holds personal data.

A model with a foreign key to the user and no category in accounts/privacy.py (registered by its app),
or missing from docs/processing-activities.json, fails here.
"""

import datetime
import json
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from accounts import privacy
from accounts.models import AuditEvent, ConsentPurpose
from accounts.services import audit_record, consent_set
from accounts.tests.privacy_data import fill_everything

ACTIVITIES = Path(settings.BASE_DIR) / "docs" / "processing-activities.json"
TAG = "CANARY-0a9b"


def test_every_model_holding_personal_data_belongs_to_a_category():
    uncovered = [model._meta.label for model in privacy.uncovered_models()]
    assert uncovered == [], f"register these in their app's privacy.py: {uncovered}"


def test_categories_name_only_models_that_hold_personal_data_each_once():
    holding = {model._meta.label for model in privacy.personal_data_models()}
    named = [label for category in privacy.categories() for label in category.models]
    assert set(named) <= holding, set(named) - holding
    assert len(named) == len(set(named)), "a model in two categories would be exported twice"
    for category in privacy.categories():
        assert set(category.uses) <= set(privacy.USES), category.key


def test_the_record_of_processing_activities_lists_every_model_holding_personal_data():
    document = json.loads(ACTIVITIES.read_text())
    required = {"id", "purpose", "legal_basis", "data_categories", "recipients", "retention", "models"}
    listed = []
    for activity in document["activities"]:
        assert required <= set(activity), activity.get("id")
        listed += activity["models"]
    assert document["security_measures"] and document["data_subjects"]
    holding = {model._meta.label for model in privacy.personal_data_models()}
    assert holding - set(listed) == set(), "add these models to docs/processing-activities.json"
    assert set(listed) - holding == set(), "these models no longer exist or hold no personal data"
    consents = {activity["consent_purpose"] for activity in document["activities"]} - {None, "source:<provider>"}
    assert consents <= set(ConsentPurpose.values)


def test_the_inventory_counts_each_category_and_says_what_it_is_for(
    patient_client, patient, other_patient, media, django_assert_max_num_queries
):
    fill_everything(patient, tag=TAG)
    fill_everything(other_patient, tag="OTHER")
    consent_set(user=patient, purpose=ConsentPurpose.AI_ASSISTANT, granted=True)

    # A few queries per category, however much data there is.
    with django_assert_max_num_queries(6 * len(privacy.categories()) + 25):
        response = patient_client.get(reverse("accounts:inventory"))

    page = response.content.decode()
    rows = {row["key"]: row for row in response.context["categories"]}
    assert rows["records/conditions"]["count"] == 1 and rows["records/conditions"]["sources"]
    assert rows["timeseries"]["count"] == 3 and rows["timeseries"]["breakdown"][0]["count"] == 3
    assert rows["conversations"]["count"] == 2  # one conversation, one message
    assert rows["connections"]["sources"] == ["MyFitnessPal"]
    assert rows["access_log"]["count"] == AuditEvent.objects.filter(subject=patient).count()
    uses = {use["code"]: use for use in rows["records/medications"]["uses"]}
    assert uses["storage"]["granted"] is True and uses["assistant"]["granted"] is True
    assert uses["share_links"]["granted"] is None and "share_links" in uses
    assert uses["sync"]["granted"] is True and uses["sync"]["consents"] == ["Importing from MyFitnessPal"]
    assert "Steps" in page and "explicit consent" in page
    assert TAG not in page, "the inventory shows counts and sources, not content"


def test_the_inventory_in_french_tells_a_data_source_from_a_date_range(patient_client, patient):
    fill_everything(patient, tag=TAG)
    patient_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = patient_client.get(reverse("accounts:inventory")).content.decode()
    assert "<dt>Provenance</dt>" in page
    assert '<th scope="col">De</th><th scope="col">À</th>' in page


def test_the_access_log_filters_by_who_what_and_when(patient_client, patient):
    with time_machine.travel(datetime.datetime(2026, 3, 1, 10, tzinfo=datetime.UTC)):
        audit_record(
            actor_kind=AuditEvent.ActorKind.AI_PROVIDER,
            actor_label="openai:gpt",
            subject=patient,
            action="chat.provider_call",
        )
    with time_machine.travel(datetime.datetime(2026, 4, 1, 10, tzinfo=datetime.UTC)):
        audit_record(
            actor_kind=AuditEvent.ActorKind.SHARE_LINK,
            actor_label="ab12cd34",
            subject=patient,
            action="share_link.viewed",
        )
        audit_record(
            actor_kind=AuditEvent.ActorKind.STAFF, subject=patient, action="admin.view_user", reason="Ticket 12"
        )

    def shown(**query) -> str:
        page = patient_client.get(reverse("accounts:access_log"), query).content.decode()
        return page[page.index("<tbody>") :]  # the rows, not the filters' options

    everything = shown()
    assert "Visit summary viewed through a share link" in everything and "outside assistant" in everything
    assert "Ticket 12" in everything  # why staff looked
    assert "share link" not in shown(who="ai_provider") and "outside assistant" in shown(who="ai_provider")
    only_links = shown(what="share_link")
    assert "Visit summary viewed through a share link" in only_links and "Account details viewed" not in only_links
    march = shown(since="2026-03-01", until="2026-03-31")
    assert "outside assistant" in march and "share link (ab12cd34)" not in march
    assert "Account details viewed by staff" in shown(what="staff", since="2026-04-01")
    page = patient_client.get(reverse("accounts:access_log"), {"since": "yesterday"}).content.decode()
    assert "Some filters were not understood" in page


@pytest.mark.parametrize("name", ["inventory", "exports", "restriction", "access_log", "consents", "privacy"])
def test_privacy_pages_need_a_sign_in(client, name, db):
    response = client.get(reverse(f"accounts:{name}"))
    assert response.status_code == 302 and reverse("account_login") in response.url
