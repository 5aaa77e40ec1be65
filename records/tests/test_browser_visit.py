"""A visit from preparation to the clinician's note, in a real Chromium against the live server.

The patient prepares a visit, edits the summary and shares it with an access code; a clinician
opens the link in a fresh browser (no account, no cookies), types the code, reads the summary and
leaves a note; the patient then finds the note in their records and the view in their access log.
The printed summary fits one page of A4 and of Letter.
"""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from records.models import ClinicalNote
from records.tests.browser import csp_watch, signed_in
from records.tests.visit_factories import visit_records

pytestmark = pytest.mark.browser


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def test_prepare_share_read_as_a_clinician_and_see_the_note_and_the_view(
    page: Page, browser: Browser, live_server, patient
):
    visit_records(patient)
    signed_in(page.context, live_server, patient)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    blocked = csp_watch(page)

    # Prepare the visit.
    page.goto(f"{live_server.url}/visits/")
    page.get_by_role("link", name="Prepare a visit").click()
    page.get_by_label("Date and time of the appointment").fill("2030-06-02T10:30")
    page.get_by_label("Clinician or specialty").fill("Dr Lefebvre, GP")
    page.get_by_label("Reason for the visit").fill("Diabetes check-up")
    page.get_by_role("button", name="Prepare the summary").click()
    expect(page.get_by_role("heading", name="Visit summary", level=1)).to_be_visible()
    expect(page.get_by_text("Ask your doctor").first).to_be_visible()
    expect(page.locator(".packet svg").first).to_be_visible()
    visit_url = page.url

    # Edit it: one question of the patient's own.
    page.get_by_role("link", name="Edit the summary").click()
    page.locator("textarea[name=questions-add]").fill("Can I stop the statin before summer?")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(visit_url)
    expect(page.get_by_text("Can I stop the statin before summer?")).to_be_visible()

    # The printout: one page on A4 and on Letter, charts included.
    page.goto(f"{visit_url}print/")
    expect(page.locator(".packet svg")).to_have_count(2)
    for paper in ("A4", "Letter"):
        assert _pages(page.pdf(format=paper)) == 1, f"the summary does not fit one {paper} page"
    page.goto(visit_url)

    # Share it with an access code; the link is shown once, with a copy button.
    page.get_by_label("Protect the link with an access code").check()
    page.get_by_role("button", name="Make a share link").click()
    expect(page.get_by_role("heading", name="Your share link")).to_be_visible()
    url = page.locator("#share-url").input_value()
    code = page.locator("#share-code").input_value()
    page.locator("[data-copy=share-url]").click()
    expect(page.locator("[data-copy=share-url]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url

    # A clinician, in a browser that has never seen HealthSpace.
    clinician_context = browser.new_context()
    clinician = clinician_context.new_page()
    clinician.set_default_timeout(10_000)
    clinician_blocked = csp_watch(clinician)
    clinician.goto(url)
    expect(clinician.get_by_role("heading", name="A visit summary was shared with you")).to_be_visible()
    expect(clinician.get_by_text("Penicillin")).to_have_count(0)
    clinician.get_by_label("Access code").fill("AAAA-AAAA")
    clinician.get_by_role("button", name="Open the summary").click()
    expect(clinician.get_by_text("This code does not open the summary.")).to_be_visible()
    expect(clinician.get_by_text("Penicillin")).to_have_count(0)
    clinician.get_by_label("Access code").fill(code)
    clinician.get_by_role("button", name="Open the summary").click()
    expect(clinician.get_by_text("Can I stop the statin before summer?")).to_be_visible()
    expect(clinician.get_by_text("Penicillin — hives")).to_be_visible()
    clinician.get_by_label("Your name").fill("Dr Anne Roux")
    clinician.get_by_label("Your role").fill("Endocrinologist")
    clinician.get_by_label("Note for the patient").fill("Please repeat the fasting glucose in a month.")
    clinician.get_by_role("button", name="Send the note").click()
    expect(clinician.get_by_role("heading", name="Thank you: your note was sent to the patient")).to_be_visible()
    clinician_context.close()

    # Back to the patient: the note is in the records, flagged, and the view is in the access log.
    page.goto(f"{live_server.url}/records/notes/")
    row = page.get_by_role("row").filter(has_text="Note from Dr Anne Roux")
    expect(row.get_by_text("From an unverified outside author")).to_be_visible()
    row.get_by_role("link", name="Note from Dr Anne Roux").click()
    expect(page.get_by_text("Please repeat the fasting glucose in a month.")).to_be_visible()
    page.goto(f"{live_server.url}/privacy/access-log/")
    expect(page.get_by_role("cell", name="Visit summary viewed through a share link")).to_be_visible()
    expect(page.get_by_role("cell", name="Note left through a share link")).to_be_visible()
    page.goto(visit_url)
    expect(page.get_by_role("row").filter(has_text="with access code").get_by_role("cell").nth(3)).to_have_text(
        re.compile(r"^1\b")
    )
    assert ClinicalNote.objects.filter(owner=patient, unverified_author=True).count() == 1
    assert blocked == [] and clinician_blocked == []
