"""Region gating and staged rollout: flags by country, group, user and percentage; the waitlist.

The EHR connection (SMART on FHIR) is the first gated feature: open in the United States only, from the
flag accounts' migration 0003 creates. The cast's patients live in France.
"""

import uuid

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import Group
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import rollout
from accounts.models import Flag, User, WaitlistEntry, rollout_bucket
from accounts.services import profile_update
from integrations.models import Connection, FhirServer

EHR = "ehr-connection"


@pytest.fixture
def ehr_server(db):
    return FhirServer.objects.create(name="Test EHR", base_url="https://ehr.example/fhir", client_id="x")


@pytest.fixture
def american(db):
    from accounts.tests.factories import PatientFactory

    person = PatientFactory(email="us.patient@example.org")
    profile_update(user=person, country="US")
    return User.objects.get(pk=person.pk)  # fresh, without a cached profile


def _flag(name=EHR, **fields) -> Flag:
    flag, _created = Flag.objects.update_or_create(name=name, defaults=fields)
    flag.flush()  # waffle flushes on commit; a test's transaction never commits
    return flag


def test_the_ehr_connection_opens_in_the_united_states_only_at_launch(patient, american):
    flag = Flag.objects.get(name=EHR)
    assert [str(code) for code in flag.countries] == ["US"] and flag.everyone is None
    assert rollout.feature_is_open(user=american, flag=EHR)
    assert not rollout.feature_is_open(user=patient, flag=EHR)


def test_a_patient_without_a_country_is_outside_a_country_flag(db):
    from accounts.tests.factories import PatientFactory

    nowhere = PatientFactory()
    profile_update(user=nowhere, country="")
    assert not rollout.feature_is_open(user=User.objects.get(pk=nowhere.pk), flag=EHR)


def test_everyone_yes_or_no_decides_alone(patient, american):
    _flag(everyone=True)
    assert rollout.feature_is_open(user=patient, flag=EHR)
    _flag(everyone=False)
    assert not rollout.feature_is_open(user=american, flag=EHR)


def test_a_group_narrows_the_rollout_inside_the_countries(patient, american, other_patient):
    beta = Group.objects.create(name="Beta")
    flag = _flag(countries=["US", "FR"])
    assert rollout.feature_is_open(user=patient, flag=EHR), "countries alone: everyone there"
    flag.groups.add(beta)  # waffle's m2m signal flushes the flag's cached groups
    assert not rollout.feature_is_open(user=patient, flag=EHR)
    assert not rollout.feature_is_open(user=american, flag=EHR)
    patient.groups.add(beta)
    assert rollout.feature_is_open(user=patient, flag=EHR)
    assert not rollout.feature_is_open(user=other_patient, flag=EHR)
    _flag(countries=["US"])
    assert not rollout.feature_is_open(user=patient, flag=EHR), "a group never crosses a border"


def test_a_group_flag_without_countries_opens_for_its_members_anywhere(patient, other_patient):
    beta = Group.objects.create(name="Beta")
    flag = _flag(name="new-dashboard", countries=[])
    assert not rollout.feature_is_open(user=patient, flag="new-dashboard"), "a flag with no rule is off"
    flag.groups.add(beta)
    patient.groups.add(beta)
    assert rollout.feature_is_open(user=patient, flag="new-dashboard")
    assert not rollout.feature_is_open(user=other_patient, flag="new-dashboard")
    flag.users.add(other_patient)
    assert rollout.feature_is_open(user=other_patient, flag="new-dashboard")


def test_a_percentage_is_stable_per_user_and_grows_without_dropping_anyone(db):
    people = [User(email=f"p{n}@example.org", public_id=uuid.uuid4()) for n in range(2000)]
    _flag(name="staged", percent=25)
    first = {person.public_id for person in people if rollout.feature_is_open(user=person, flag="staged")}
    assert 0.21 < len(first) / len(people) < 0.29
    again = {person.public_id for person in people if rollout.feature_is_open(user=person, flag="staged")}
    assert again == first, "the same users every time (no random draw, no cookie)"
    _flag(name="staged", percent=50)
    wider = {person.public_id for person in people if rollout.feature_is_open(user=person, flag="staged")}
    assert first < wider and 0.45 < len(wider) / len(people) < 0.55
    # Another flag at the same percentage reaches other people: buckets are per flag.
    other = {person.public_id for person in people if rollout_bucket("another-flag", person) < 250}
    assert other != first


def test_a_missing_flag_is_closed_and_not_created(patient, caplog):
    assert not rollout.feature_is_open(user=patient, flag="never-created")
    assert not Flag.objects.filter(name="never-created").exists()
    assert "never-created" in caplog.text


def test_signed_out_visitors_never_have_a_feature(db):
    from django.contrib.auth.models import AnonymousUser

    _flag(countries=[], percent=99.9)
    assert not rollout.feature_is_open(user=AnonymousUser(), flag=EHR)


def test_waffle_template_tags_and_helpers_agree(patient, american):
    template = Template(
        "{% load rollout waffle_tags %}{% feature_open 'ehr-connection' as open %}{{ open }}|"
        "{% flag 'ehr-connection' %}on{% else %}off{% endflag %}|{% waitlist_url 'ehr-connection' %}"
    )
    for person, expected in ((american, "True|on"), (patient, "False|off")):
        request = RequestFactory().get("/")
        request.user = person
        assert template.render(Context({"request": request})) == f"{expected}|{reverse('waitlist:feature', args=[EHR])}"


def test_a_flag_is_read_from_the_cache_once_warm(patient):
    rollout.feature_is_open(user=patient, flag=EHR)
    with CaptureQueriesContext(connection) as queries:
        rollout.feature_is_open(user=User.objects.select_related("profile").get(pk=patient.pk), flag=EHR)
    assert len(queries) == 1, [q["sql"] for q in queries]  # the user and profile; the flag is cached


# -- the Connections page and the EHR pages -----------------------------------------------------------


def test_outside_the_flag_the_connections_page_offers_the_waitlist_not_connect(patient_client, ehr_server):
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert reverse("waitlist:feature", args=[EHR]) in page and "Join the waitlist" in page
    assert reverse("smart_fhir:servers") not in page


def test_inside_the_flag_the_connections_page_offers_connect(client, american, ehr_server):
    client.force_login(american)
    page = client.get(reverse("integrations:index")).content.decode()
    assert reverse("smart_fhir:servers") in page
    assert reverse("waitlist:feature", args=[EHR]) not in page


def test_the_ehr_pages_send_patients_outside_to_the_waitlist(patient_client, patient, ehr_server):
    waitlist = reverse("waitlist:feature", args=[EHR])
    assert patient_client.get(reverse("smart_fhir:servers")).url == waitlist
    response = patient_client.post(reverse("smart_fhir:connect"), {"server": str(ehr_server.public_id)})
    assert response.status_code == 302 and response.url == waitlist
    assert patient_client.get(reverse("smart_fhir:callback") + "?state=x&code=y").url == waitlist
    assert not Connection.objects.filter(owner=patient).exists()


def test_closing_the_flag_closes_the_connect_view_at_once(client, american, ehr_server):
    client.force_login(american)
    assert client.get(reverse("smart_fhir:servers")).status_code == 200
    _flag(everyone=False)
    assert client.get(reverse("smart_fhir:servers")).url == reverse("waitlist:feature", args=[EHR])


# -- the waitlist ---------------------------------------------------------------------------------------


def test_a_patient_joins_and_leaves_the_waitlist(patient_client, patient):
    url = reverse("waitlist:feature", args=[EHR])
    page = patient_client.get(url).content.decode()
    assert "Health record (SMART on FHIR)" in page and "Join the waitlist" in page
    assert patient_client.post(reverse("waitlist:join", args=[EHR])).url == url
    patient_client.post(reverse("waitlist:join", args=[EHR]))  # a double click
    assert WaitlistEntry.objects.filter(user=patient, feature=EHR).count() == 1
    assert "You joined the waitlist" in patient_client.get(url).content.decode()
    connections = patient_client.get(reverse("integrations:index")).content.decode()
    assert "You are on the waitlist" in connections
    patient_client.post(reverse("waitlist:leave", args=[EHR]))
    assert not WaitlistEntry.objects.filter(user=patient).exists()


def test_the_waitlist_page_of_an_open_feature_leads_to_it(client, american):
    client.force_login(american)
    assert client.get(reverse("waitlist:feature", args=[EHR])).url == reverse("integrations:index")


def test_an_unknown_feature_has_no_waitlist(patient_client):
    assert patient_client.get(reverse("waitlist:feature", args=["no-such-thing"])).status_code == 404
    assert patient_client.post(reverse("waitlist:join", args=["no-such-thing"])).status_code == 404
    assert not WaitlistEntry.objects.exists()


def test_joining_needs_a_post(patient_client):
    assert patient_client.get(reverse("waitlist:join", args=[EHR])).status_code == 405
    assert not WaitlistEntry.objects.exists()


# -- the staff console ------------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client, staff):
    staff.is_superuser = True
    staff.save()
    TOTP.activate(staff, generate_totp_secret())
    client.force_login(staff)
    return client


def test_staff_open_a_country_in_the_console_and_it_takes_effect_at_once(
    superuser_client, patient, django_capture_on_commit_callbacks
):
    flag = Flag.objects.get(name=EHR)
    assert not rollout.feature_is_open(user=patient, flag=EHR)  # now cached as closed
    form = {"name": EHR, "note": flag.note, "everyone": "unknown", "countries": ["US", "FR"], "percent": ""}
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(reverse("admin:accounts_flag_change", args=[flag.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert rollout.feature_is_open(user=patient, flag=EHR), "the cached flag was flushed on save"


def test_staff_see_how_many_patients_wait_for_each_feature(superuser_client, patient, other_patient, staff):
    rollout.waitlist_join(user=patient, flag=EHR)
    rollout.waitlist_join(user=other_patient, flag=EHR)
    assert rollout.waitlist_counts() == {EHR: 2}
    page = superuser_client.get(reverse("admin:accounts_flag_changelist")).content.decode()
    assert '<td class="field-waitlist">2</td>' in page
    # Support staff (no flag permissions) see the counts on the waitlist's own list, by feature.
    support = staff.__class__.objects.create(email="support@healthspace.example", is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    TOTP.activate(support, generate_totp_secret())
    superuser_client.force_login(support)
    page = superuser_client.get(reverse("admin:accounts_waitlistentry_changelist")).content.decode()
    assert f"{EHR}" in page and "(2)" in page
    assert superuser_client.get(reverse("admin:accounts_flag_changelist")).status_code == 403


def test_waffles_own_flag_tables_are_not_created(db):
    # They would reference auth_group and the users, and PostgreSQL could not flush a test database.
    tables = set(connection.introspection.table_names())
    assert "accounts_flag" in tables and "accounts_flag_groups" in tables
    assert not {"waffle_flag", "waffle_flag_groups", "waffle_flag_users"} & tables


def test_any_source_can_be_gated_by_naming_a_flag(patient_client, patient, monkeypatch):
    """Gating another feature: a flag, a registered Feature, and the provider naming it. Nothing else."""
    import dataclasses

    from django.core.files.uploadedfile import SimpleUploadedFile

    from integrations.models import SyncRun
    from integrations.providers.base import providers

    _flag(name="mfp-beta", countries=["US"])
    feature = rollout.Feature(flag="mfp-beta", name="MyFitnessPal", description="", url_name="integrations:index")
    monkeypatch.setitem(rollout._FEATURES, "mfp-beta", feature)  # what an AppConfig.ready() registers
    monkeypatch.setitem(
        providers(), "myfitnesspal", dataclasses.replace(providers()["myfitnesspal"], feature="mfp-beta")
    )
    page = patient_client.get(reverse("integrations:index")).content.decode()
    assert reverse("waitlist:feature", args=["mfp-beta"]) in page
    assert reverse("integrations:upload", args=["myfitnesspal"]) not in page
    upload = SimpleUploadedFile("diary.csv", b"Date,Meal,Calories\n2024-01-01,Breakfast,300\n")
    response = patient_client.post(reverse("integrations:upload", args=["myfitnesspal"]), {"file": upload})
    assert response.url == reverse("waitlist:feature", args=["mfp-beta"])
    assert not SyncRun.objects.filter(owner=patient).exists()
