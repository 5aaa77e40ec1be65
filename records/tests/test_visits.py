"""The symptom journal, visit preparation (packet, reconciliation, edits, printing) and the after-visit form."""

import datetime
import json
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from records import packet, selectors, symptoms, visits
from records.exceptions import RecordError
from records.fhir.exporter import fhir_export_bundle
from records.fhir.importer import fhir_import
from records.models import Condition, Encounter, Medication, Source, Symptom, VisitPreparation
from records.tests.test_fhir import DENNIS
from records.tests.visit_factories import RXNORM, days_ago, from_source, mine, prepared_visit, visit_records

# A Wednesday afternoon.
NOW = datetime.datetime(2026, 3, 11, 16, 30, tzinfo=datetime.UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2026, 3, day, hour, minute, tzinfo=zoneinfo.ZoneInfo("UTC"))


# -- symptom journal ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("headache 6/10 since 2pm", "en", {"what": "headache", "severity": 6, "onset": at(11, 14)}),
        ("mal de tête 6/10 depuis 14h", "fr", {"what": "mal de tête", "severity": 6, "onset": at(11, 14)}),
        ("I have a headache since 9pm", "en", {"what": "headache", "severity": None, "onset": at(10, 21)}),
        (
            "back pain 7 out of 10 since Monday for 2 hours",
            "en",
            {"what": "back pain", "severity": 7, "onset": at(9, 0), "duration": datetime.timedelta(hours=2)},
        ),
        ("nausea since yesterday at 3pm", "en", {"what": "nausea", "severity": None, "onset": at(10, 15)}),
        ("cough 3 days ago", "en", {"what": "cough", "severity": None, "onset": at(8, 16, 30)}),
        ("toux depuis 3 jours", "fr", {"what": "toux", "severity": None, "onset": at(8, 16, 30)}),
        ("j'ai mal à la tête depuis hier soir", "fr", {"what": "mal à la tête", "severity": None, "onset": at(10, 19)}),
        (
            "nausée depuis le 3 mars pendant 20 min",
            "fr",
            {"what": "nausée", "severity": None, "onset": at(3, 0), "duration": datetime.timedelta(minutes=20)},
        ),
        ("palpitations since 14:30, 3/10", "en", {"what": "palpitations", "severity": 3, "onset": at(11, 14, 30)}),
    ],
)
def test_a_one_line_entry_is_read_in_english_and_french(text, language, expected):
    parsed = symptoms.symptom_parse(text, language, now=NOW)
    assert parsed == expected
    assert parsed["onset"].tzinfo is not None


@pytest.mark.parametrize("text", ["what is my cholesterol", "headache", "6/10 since 2pm", "", "x" * 300])
def test_a_line_that_is_not_an_entry_gives_none(text):
    assert symptoms.symptom_parse(text, "en", now=NOW) is None


def test_without_an_onset_the_entry_starts_now_in_the_configured_time_zone(settings):
    parsed = symptoms.symptom_parse("dizziness 4/10", "en", now=NOW)
    assert parsed["onset"] == NOW
    assert parsed["onset"].tzinfo.key == settings.TIME_ZONE


def test_a_parsed_entry_is_saved_as_proposed_and_shows_on_the_timeline(patient_client, patient):
    fields = symptoms.symptom_parse("headache 6/10 since 2pm for 2 hours", "en", now=timezone.now())
    symptom = symptoms.symptom_create(owner=patient, **fields)
    assert (symptom.what, symptom.severity, symptom.duration_minutes) == ("headache", 6, 120)
    assert symptom.source == Source.MANUAL
    page = patient_client.get(reverse("records:timeline")).content.decode()
    assert "headache" in page and "Symptom" in page
    with connection.cursor() as cursor:
        cursor.execute("SELECT what, severity FROM records_symptom")
        stored = cursor.fetchone()
    assert all(value.startswith("gAAAAA") for value in stored)


def test_the_journal_reads_a_quick_entry_for_the_patient_to_confirm(patient_client, patient):
    page = patient_client.get(reverse("records:symptom_journal"), {"line": "mal de tête 6/10 pendant 2 heures"})
    form = page.context["form"]
    assert page.context["proposed"] and not Symptom.objects.exists()
    assert form.initial["what"] == "mal de tête" and form.initial["severity"] == 6
    assert form.initial["duration"] == "2 hours"
    response = patient_client.post(
        reverse("records:symptom_journal"),
        {
            "what": "mal de tête",
            "severity": "6",
            "onset": "2026-03-01T14:00",
            "duration": "2 heures",
            "notes": "After work",
        },
    )
    assert response.status_code == 302
    symptom = Symptom.objects.get(owner=patient)
    assert symptom.duration_minutes == 120 and symptom.patient_note == "After work"
    assert symptom.effective_at == datetime.datetime(2026, 3, 1, 14, tzinfo=datetime.UTC)
    assert "mal de tête" in patient_client.get(reverse("records:symptom_journal")).content.decode()


def test_the_journal_refuses_a_future_onset_and_an_unreadable_duration(patient_client, patient):
    future = (timezone.now() + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = patient_client.post(
        reverse("records:symptom_journal"), {"what": "Cough", "severity": "11", "onset": future, "duration": "a while"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and not Symptom.objects.exists()
    assert "A symptom cannot start in the future." in page
    assert "Write a duration such as" in page
    assert "Ensure this value is less than or equal to 10." in page


def test_new_symptom_from_the_records_page_goes_to_the_journal(patient_client):
    response = patient_client.get(reverse("records:create", args=["symptoms"]))
    assert response.url == reverse("records:symptom_journal")


# -- medication reconciliation ---------------------------------------------------------------------------


def _groups(owner):
    return {
        group.shown.name: group
        for group in packet.medications_reconcile(list(Medication.objects.filter(owner=owner).order_by("id")))
    }


def test_medications_are_merged_by_drug_across_sources_and_conflicts_are_flagged(patient):
    visit_records(patient)
    groups = _groups(patient)
    metformin = groups["Metformin 1000 mg"]
    assert len(metformin.records) == 2 and metformin.is_current
    assert [conflict["kind"] for conflict in metformin.conflicts] == ["dose"]
    assert metformin.conflicts[0]["values"] == ["1 tablet twice daily", "1 tablet daily"]
    lisinopril = groups["Lisinopril 10 MG Oral Tablet"]
    assert lisinopril.is_current
    assert lisinopril.conflicts == [
        {"kind": "status", "active": ["Health record (FHIR) (Riverside Clinic)"], "stopped": ["Entered by you"]}
    ]
    # One source's own history (stopped, then started again at another dose) is not a conflict.
    atorvastatin = groups["Atorvastatin 20 MG Oral Tablet"]
    assert len(atorvastatin.records) == 2 and atorvastatin.conflicts == []
    assert not groups["Amoxicillin 250 MG Oral Capsule"].is_current


def test_the_same_rxnorm_code_groups_names_that_differ(patient):
    from_source(patient, Medication(name="Humira 40 MG/0.4ML", code="1656666", code_system=RXNORM, status="active"))
    from_source(
        patient,
        Medication(name="adalimumab pen", code="1656666", code_system=RXNORM, status="active"),
        label="City Hospital",
    )
    (group,) = packet.medications_reconcile(list(Medication.objects.filter(owner=patient)))
    assert len(group.records) == 2 and group.conflicts == []


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", "metformin"),
        ("Metformin 1000 mg", "metformin"),
        ("NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector", "epinephrine"),
        ("Acetaminophen 325 MG Oral Tablet [Tylenol]", "acetaminophen"),
        ("Potassium chloride 20 mEq", "chloride"),
        ("Paracétamol 500 mg comprimé", "paracétamol"),
    ],
)
def test_a_drug_name_loses_its_dose_form_and_salt(name, key):
    assert packet.medication_name_key(name) == key


# -- the packet ------------------------------------------------------------------------------------------


def _section(visit, name):
    return visit.packet["sections"][name]


def test_the_packet_gathers_what_a_clinician_needs(patient):
    visit = prepared_visit(patient)
    medications = {item["data"]["name"]: item for item in _section(visit, "medications")}
    assert set(medications) == {
        "Metformin 1000 mg",
        "Lisinopril 10 MG Oral Tablet",
        "Atorvastatin 20 MG Oral Tablet",
    }
    assert [item["data"]["substance"] for item in _section(visit, "allergies")] == ["Penicillin"]
    assert [item["data"]["name"] for item in _section(visit, "conditions")] == ["Asthma"]
    (glucose,) = _section(visit, "labs")
    assert glucose["data"]["flag"] == "high" and glucose["data"]["trend"] == "up"
    assert [value for _day, value in glucose["data"]["history"]] == [95, 104, 118, 131]
    assert [item["data"]["what"] for item in _section(visit, "symptoms")] == ["Headache"] * 3
    concerns = _section(visit, "concerns")
    assert [item["kind"] for item in concerns] == ["reason", "symptom"]
    assert concerns[1]["data"]["count"] == 3 and concerns[1]["data"]["max_severity"] == 7
    questions = {item["kind"] for item in _section(visit, "questions")}
    assert questions == {"medication_conflict", "lab_out_of_range", "recurring_symptom"}
    charts = [item["data"].get("title") for item in _section(visit, "charts")]
    assert charts == ["Body weight", "Glucose"]


def test_the_summary_page_shows_conflicts_results_and_questions(patient_client, patient):
    visit = prepared_visit(patient)
    page = patient_client.get(reverse("records:visit_detail", args=[visit.public_id])).content.decode()
    assert page.count("Ask your doctor") >= 2
    assert "Your records give different doses: 1 tablet twice daily; 1 tablet daily." in page
    assert "Glucose: 131\N{NO-BREAK SPACE}mg/dL" in page and "above range" in page
    assert "Rising: 95\N{NO-BREAK SPACE}mg/dL → 104\N{NO-BREAK SPACE}mg/dL" in page
    assert "My records disagree about Metformin 1000 mg." in page
    assert "I have had Headache 3 times in the last 30 days." in page
    assert "(2 records merged)" in page
    assert "<svg" in page and "Sprained ankle" not in page and "Amoxicillin" not in page


def test_preparing_a_visit_from_the_form(patient_client, patient):
    visit_records(patient)
    response = patient_client.post(
        reverse("records:visit_create"),
        {"appointment_at": "2026-06-02T10:30", "clinician": "Cardiology", "reason": "Palpitations"},
    )
    visit = VisitPreparation.objects.get(owner=patient)
    assert response.url == reverse("records:visit_detail", args=[visit.public_id])
    assert visit.appointment_at == datetime.datetime(2026, 6, 2, 10, 30, tzinfo=datetime.UTC)
    assert _section(visit, "concerns")[0]["data"] == {"text": "Palpitations"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT clinician, packet FROM records_visitpreparation")
        stored = cursor.fetchone()
    assert all(value.startswith("gAAAAA") for value in stored)


def _edit_data(visit, **changes):
    """The edit form as the browser would post it unchanged, then the changes."""
    form = packet.SECTIONS
    data = {
        "revision": visit.packet["revision"],
        "visit-appointment_at": timezone.localtime(visit.appointment_at).strftime("%Y-%m-%dT%H:%M"),
        "visit-clinician": visit.clinician,
        "visit-reason": visit.reason,
    }
    for name, _label in form:
        for index, item in enumerate(visit.packet["sections"][name]):
            if item["include"]:
                data[f"{name}-{index}-include"] = "on"
            data[f"{name}-{index}-text"] = item["text"] or packet.item_line(name, item)
            if name in packet.NOTE_SECTIONS:
                data[f"{name}-{index}-note"] = item["note"] or packet.item_note(name, item)
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_every_line_of_the_packet_can_be_hidden_reworded_or_added_to(patient_client, patient):
    visit = prepared_visit(patient)
    medications = _section(visit, "medications")
    atorvastatin = next(i for i, item in enumerate(medications) if item["data"]["name"].startswith("Atorvastatin"))
    metformin = next(i for i, item in enumerate(medications) if item["data"]["name"].startswith("Metformin"))
    url = reverse("records:visit_edit", args=[visit.public_id])
    response = patient_client.post(
        url,
        _edit_data(
            visit,
            **{
                f"medications-{atorvastatin}-include": None,
                f"medications-{metformin}-note": "I take 1000 mg since March.",
                "allergies-0-text": "Penicillin: hives and swelling",
                "questions-add": "Can I stop the statin?\nShould I see a dietitian?",
            },
        ),
    )
    assert response.status_code == 302, response.context["packet_form"].errors
    visit.refresh_from_db()
    assert _section(visit, "medications")[atorvastatin]["include"] is False
    assert _section(visit, "medications")[metformin]["note"] == "I take 1000 mg since March."
    assert _section(visit, "allergies")[0]["text"] == "Penicillin: hives and swelling"
    # Lines left as generated stay generated: they follow the language they are printed in.
    assert _section(visit, "labs")[0]["text"] is None
    page = patient_client.get(reverse("records:visit_detail", args=[visit.public_id])).content.decode()
    assert "Atorvastatin" not in page
    assert "I take 1000 mg since March." in page and "Penicillin: hives and swelling" in page
    assert "Can I stop the statin?" in page and "Should I see a dietitian?" in page


def test_an_edit_on_a_packet_changed_meanwhile_is_refused(patient_client, patient):
    visit = prepared_visit(patient)
    stale = _edit_data(visit, **{"allergies-0-text": "Changed in another tab"})
    patient_client.post(reverse("records:visit_refresh", args=[visit.public_id]))
    response = patient_client.post(reverse("records:visit_edit", args=[visit.public_id]), stale, follow=True)
    assert "The packet changed since you opened this page." in response.content.decode()
    visit.refresh_from_db()
    assert _section(visit, "allergies")[0]["text"] is None


def test_at_most_three_concerns(patient_client, patient):
    visit = prepared_visit(patient)
    response = patient_client.post(
        reverse("records:visit_edit", args=[visit.public_id]), _edit_data(visit, **{"concerns-add": "Sleep\nFatigue"})
    )
    assert response.status_code == 200
    assert "Keep at most three top concerns" in response.content.decode()


def test_updating_from_the_records_keeps_the_patients_edits_and_lines(patient_client, patient):
    visit = prepared_visit(patient)
    patient_client.post(
        reverse("records:visit_edit", args=[visit.public_id]),
        _edit_data(visit, **{"allergies-0-text": "Penicillin: hives", "questions-add": "Is my asthma controlled?"}),
    )
    mine(patient, Condition(name="Hypertension", clinical_status="active", effective_at=days_ago(5)))
    patient_client.post(reverse("records:visit_refresh", args=[visit.public_id]))
    visit.refresh_from_db()
    assert _section(visit, "allergies")[0]["text"] == "Penicillin: hives"
    assert "Hypertension" in [item["data"]["name"] for item in _section(visit, "conditions")]
    assert "Is my asthma controlled?" in [item["data"].get("text") for item in _section(visit, "questions")]


def test_the_printed_summary_in_the_patients_language_or_another(patient_client, patient):
    visit = prepared_visit(patient)
    patient.profile.preferred_language = "fr"
    patient.profile.save()
    url = reverse("records:visit_print", args=[visit.public_id])
    french = patient_client.get(url)
    page = french.content.decode()
    assert '<html lang="fr">' in page and french["Content-Language"] == "fr"
    assert "au-dessus de la référence" in page  # a line generated from the data, in French
    assert "css/print.css" in page and page.count("<svg") == 2
    english = patient_client.get(url, {"lang": "en"}).content.decode()
    assert '<html lang="en">' in english and "above range" in english
    assert patient_client.get(url, {"lang": "xx"}).context["language"] == "fr"


def test_the_visit_list_costs_the_same_with_more_visits(patient_client, patient):
    prepared_visit(patient)
    patient_client.get(reverse("records:visit_list"))
    with CaptureQueriesContext(connection) as queries:
        patient_client.get(reverse("records:visit_list"))
    few = len(queries)
    for day in range(4):
        visits.visit_create(user=patient, appointment_at=days_ago(day), clinician=f"Dr {day}")
    with CaptureQueriesContext(connection) as queries:
        response = patient_client.get(reverse("records:visit_list"))
    assert len(queries) == few and len(response.context["visits"]) == 5


def test_another_patients_visit_is_a_404(client, patient, other_patient):
    visit = prepared_visit(other_patient)
    client.force_login(patient)
    for name in ("records:visit_detail", "records:visit_print", "records:visit_fhir", "records:visit_edit"):
        assert client.get(reverse(name, args=[visit.public_id])).status_code == 404
    assert client.post(reverse("records:visit_delete", args=[visit.public_id])).status_code == 404
    assert VisitPreparation.objects.filter(pk=visit.pk).exists()


# -- after the visit -------------------------------------------------------------------------------------


def _named(model, owner, name):
    return [row for row in model.objects.filter(owner=owner) if row.name == name]


def test_what_was_decided_feeds_the_records_and_the_follow_ups(patient_client, patient):
    visit = prepared_visit(patient)
    data = {
        "diagnoses": "Type 2 diabetes\n",
        "started": "Empagliflozin 10 mg once daily",
        "stopped": "Metformin\nLisinopril",
        "follow_ups": "HbA1c in 3 months\nBook an eye exam",
        "notes": "Keep walking.",
    }
    url = reverse("records:visit_after", args=[visit.public_id])
    assert patient_client.post(url, data).status_code == 302
    patient_client.post(url, data)  # sent twice: nothing is added twice

    (condition,) = _named(Condition, patient, "Type 2 diabetes")
    assert condition.source == Source.MANUAL and condition.clinical_status == "active"
    assert condition.source_label.startswith("Noted after your visit of")
    assert condition.effective_at == visit.appointment_at
    (started,) = _named(Medication, patient, "Empagliflozin 10 mg once daily")
    assert started.status == "active" and started.is_manual
    # The patient's own metformin entry is stopped; the clinic's lisinopril gets a stopped entry beside it.
    day = timezone.localtime(visit.appointment_at).date()
    (metformin,) = _named(Medication, patient, "Metformin 1000 mg")
    assert metformin.status == "stopped" and metformin.ended_on == day
    (clinic_metformin,) = _named(
        Medication, patient, "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet"
    )
    assert clinic_metformin.status == "active"
    (lisinopril,) = _named(Medication, patient, "Lisinopril")
    assert lisinopril.status == "stopped" and lisinopril.ended_on == day
    assert len(_named(Encounter, patient, "Dr Lefebvre, GP")) == 1

    visit.refresh_from_db()
    assert visit.follow_ups == [
        {"text": "HbA1c in 3 months", "done": False},
        {"text": "Book an eye exam", "done": False},
    ]
    listing = patient_client.get(reverse("records:visit_list")).content.decode()
    assert "HbA1c in 3 months" in listing and "Book an eye exam" in listing
    patient_client.post(
        reverse("records:visit_follow_up", args=[visit.public_id]), {"index": "0", "done": "1", "back": "list"}
    )
    listing = patient_client.get(reverse("records:visit_list")).content.decode()
    assert "HbA1c in 3 months" not in listing and "Book an eye exam" in listing
    # Sending the form again keeps a follow-up's tick.
    patient_client.post(url, data)
    visit.refresh_from_db()
    assert visit.follow_ups[0] == {"text": "HbA1c in 3 months", "done": True}
    form = patient_client.get(url).context["form"]
    assert form.initial["stopped"] == "Metformin\nLisinopril"


def test_services_refuse_someone_elses_visit(patient, other_patient):
    visit = prepared_visit(other_patient)
    with pytest.raises(RecordError):
        visits.visit_packet_refresh(user=patient, visit=visit)
    with pytest.raises(RecordError):
        visits.share_link_create(user=patient, visit=visit)


# -- real data ---------------------------------------------------------------------------------------------


def test_a_packet_from_a_real_fhir_record(patient, patient_client):
    with DENNIS.open("rb") as stream:
        fhir_import(owner=patient, stream=stream, filename=DENNIS.name)
    built = packet.packet_build(user=patient, reason="Yearly check-up")
    medications = built["sections"]["medications"]
    imported = Medication.objects.filter(owner=patient)
    current = {packet.medication_name_key(m.name) for m in imported if selectors.medication_is_current(m)}
    assert len(medications) == len(current) > 0
    assert all(item["data"]["sources"] == [f"Health record (FHIR) ({DENNIS.name})"] for item in medications)
    assert built["sections"]["allergies"] and built["sections"]["conditions"]
    # The record ends in 2008: its latest results still make the "recent" list.
    assert built["sections"]["labs"]
    pressure = next(item for item in built["sections"]["vitals"] if item["data"]["name"] == "Blood Pressure")
    assert packet.item_line("vitals", pressure).startswith("Blood Pressure: 171.0/108.4\N{NO-BREAK SPACE}mm[Hg] on")
    assert [item["data"]["title"] for item in built["sections"]["charts"]][:2] == ["Blood Pressure", "Body Weight"]
    json.dumps(built)  # the packet is plain JSON, as it is stored
    visit = visits.visit_create(user=patient, appointment_at=timezone.now(), clinician="GP", reason="Yearly check-up")
    page = patient_client.get(reverse("records:visit_print", args=[visit.public_id]))
    assert page.status_code == 200
    assert fhir_export_bundle(owner=patient)["entry"]  # the full export still works beside it
