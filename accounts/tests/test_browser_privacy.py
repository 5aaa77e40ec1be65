"""The privacy centre in a real Chromium: ask for a copy, watch it being prepared, download it, then erase
the account and find signing in refused.

The jobs run as the worker runs them (their task, with the id), started by the test while the page is open;
what the page queues is recorded instead of being sent to a broker.
"""

import io
import json
import zipfile

import pytest
from playwright.sync_api import Page, expect

from accounts import erasure as erasure_module
from accounts import export as export_module
from accounts.models import AccountErasure, DataExport, User
from accounts.tasks import account_erase_task, data_export_build_task
from accounts.tests.factories import PASSWORD
from accounts.tests.test_browser_journeys import confirm_access_with_password, label, sign_in
from records.tests.factories import lab_result

pytestmark = pytest.mark.browser


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def queued(monkeypatch, media):
    jobs: list[tuple[str, int]] = []
    monkeypatch.setattr(export_module, "_enqueue", lambda pk: jobs.append(("export", pk)))
    monkeypatch.setattr(erasure_module, "_enqueue", lambda pk: jobs.append(("erasure", pk)))
    return jobs


def test_export_and_download_then_erase_and_find_sign_in_refused(page: Page, live_server, patient, queued):
    lab_result(patient, name="Glucose", value="95")
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, live_server.url, patient.email)
    expect(page).to_have_url(f"{live_server.url}/dashboard/")

    page.goto(f"{live_server.url}/privacy/")
    page.get_by_role("link", name="Get a copy").click()
    page.get_by_role("button", name="Prepare a copy").click()
    confirm_access_with_password(page)
    expect(page.get_by_role("status")).to_have_text("Waiting")
    assert queued == [("export", DataExport.objects.get().pk)]

    # The worker builds it while the page is open: the page follows, then offers the file.
    data_export_build_task.apply(args=[queued[0][1]])
    download_link = page.get_by_role("link", name="Download the zip file")
    expect(download_link).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Ready to download")
    with page.expect_download() as event:
        download_link.click()
    download = event.value
    assert download.suggested_filename.startswith("healthspace-export-") and download.suggested_filename.endswith(
        ".zip"
    )
    with open(download.path(), "rb") as handle, zipfile.ZipFile(io.BytesIO(handle.read())) as archive:
        labs = json.loads(archive.read("records/lab-results.json"))
        assert [row["name"] for row in labs] == ["Glucose"]
        assert "record.fhir.json" in archive.namelist()

    page.goto(f"{live_server.url}/privacy/erase/")
    page.get_by_label(label("Type your email address to confirm")).fill(patient.email)
    page.get_by_role("button", name="Erase my account and all my data").click()
    expect(page.get_by_role("heading", name="Your account is closed")).to_be_visible()
    erasure = AccountErasure.objects.get()
    assert queued[-1] == ("erasure", erasure.pk)

    # Closed at once: signing in is refused before the job has even run...
    sign_in(page, live_server.url, patient.email)
    expect(page).not_to_have_url(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("heading", name="Account Inactive")).to_be_visible()

    account_erase_task.apply(args=[erasure.pk])
    assert not User.objects.filter(email=patient.email).exists()

    # ...and after it, the account no longer exists.
    sign_in(page, live_server.url, patient.email, PASSWORD)
    expect(page.get_by_text("The email address and/or password you specified are not correct.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert blocked == [], blocked
