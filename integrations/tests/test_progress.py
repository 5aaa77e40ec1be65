"""The run page's live progress: the JSON status it polls, and the page without JavaScript."""

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import Connection, SyncRun


@pytest.fixture
def run(patient):
    connection = Connection.objects.create(owner=patient, provider="myfitnesspal")
    return SyncRun.objects.create(owner=patient, connection=connection, kind=SyncRun.Kind.IMPORT, upload_size=2_000)


def _status(client, run):
    response = client.get(reverse("integrations:run_status", args=[run.public_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    return response.json()


def test_a_queued_run_reports_waiting_with_nothing_counted_yet(patient_client, run):
    assert _status(patient_client, run) == {
        "state": "queued",
        "state_label": "Waiting",
        "finished": False,
        "read": 0,
        "added": 0,
        "already_present": 0,
        "rejected": 0,
        "bytes_done": 0,
        "bytes_total": 2_000,
        "percent": 0,
        "error": "",
    }


def test_a_running_run_reports_its_counts_and_the_share_of_the_file_read(patient_client, run):
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.RUNNING, bytes_done=500, read=40, added=30, already_present=8, rejected=2
    )
    status = _status(patient_client, run)
    assert (status["state"], status["state_label"], status["finished"]) == ("running", "Running", False)
    assert (status["read"], status["added"], status["already_present"], status["rejected"]) == (40, 30, 8, 2)
    assert (status["bytes_done"], status["bytes_total"], status["percent"]) == (500, 2_000, 25)


def test_a_run_that_succeeded_is_finished_at_100_percent(patient_client, run):
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.SUCCEEDED, bytes_done=2_000, read=10, added=10, finished_at=timezone.now()
    )
    status = _status(patient_client, run)
    assert (status["state"], status["state_label"], status["finished"]) == ("succeeded", "Done", True)
    assert (status["percent"], status["added"], status["error"]) == (100, 10, "")


def test_a_failed_run_gives_its_plain_message(patient_client, run):
    message = "This file is not a MyFitnessPal export."
    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.FAILED, error_code="parse_error", error_message=message, finished_at=timezone.now()
    )
    status = _status(patient_client, run)
    assert (status["state"], status["state_label"], status["finished"]) == ("failed", "Failed", True)
    assert status["error"] == message
    assert "parse_error" not in str(status), "the staff code stays out of the patient's answer"


def test_another_patient_gets_404_for_the_status(client, other_patient, run):
    client.force_login(other_patient)
    assert client.get(reverse("integrations:run_status", args=[run.public_id])).status_code == 404


def test_an_unfinished_run_page_polls_or_refreshes_itself_and_a_finished_one_does_neither(patient_client, run):
    url = reverse("integrations:run", args=[run.public_id])
    page = patient_client.get(url).content.decode()
    # Without JavaScript the page still refreshes itself; with it, the script polls instead.
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert 'src="/static/js/run_progress.js"' in page
    assert f'data-run-status-url="{reverse("integrations:run_status", args=[run.public_id])}"' in page
    # Nothing read yet: the bar has no value (indeterminate) rather than a misleading 0 %.
    assert '<progress max="100" aria-label' in page
    assert "style=" not in page, "the CSP forbids inline styles"

    SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.SUCCEEDED, finished_at=timezone.now())
    page = patient_client.get(url).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "run_progress.js" not in page and "data-run-status-url" not in page
    assert '<progress max="100" value="100"' in page
