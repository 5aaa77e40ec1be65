"""The care-habits pages in a real Chromium: the preventive checklist, vaccinations, a dose logged, habits.

A Synthea patient (Liz Conn, a woman born in 1986) with her record imported and her profile filled in goes
from the care overview to the preventive checklist, marks cervical screening done with a date, reads her
vaccinations, logs a dose of her current medication and opens the habits page, with no CSP violation.
"""

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from records.models import DoseLog, PreventiveCheck

from .browser import csp_watch, signed_in
from .care_data import LIZ, import_patient

pytestmark = pytest.mark.browser


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


def test_the_preventive_checklist_a_dose_and_the_habits(page: Page, live_server, patient):
    liz = import_patient(patient, LIZ, today=timezone.localdate())
    signed_in(page.context, live_server, liz)
    blocked = csp_watch(page)

    page.goto(f"{live_server.url}/records/")
    page.get_by_role("link", name="Care habits").click()
    expect(page.get_by_role("heading", name="Care habits", level=1)).to_be_visible()

    # The checklist: cervical screening is a topic to discuss until she marks it done.
    page.get_by_role("link", name="Preventive care").first.click()
    topic = page.locator("#topic-cervical")
    expect(topic.get_by_text("To discuss with your clinician")).to_be_visible()
    expect(page.locator("#topic-prostate")).to_have_count(0)  # a topic for men only
    topic.get_by_label("Done on").fill("2024-05-14")
    topic.get_by_label("Note (optional)").fill("HPV test at the clinic")
    topic.get_by_role("button", name="Mark “Cervical cancer screening” done").click()
    expect(page.get_by_text("Marked as done.")).to_be_visible()
    topic = page.locator("#topic-cervical")
    expect(topic.get_by_text("Done", exact=True)).to_be_visible()
    expect(topic.get_by_text("on May 14, 2024")).to_be_visible()
    topic.get_by_text("1 date marked").click()
    expect(topic.get_by_text("HPV test at the clinic")).to_be_visible()
    assert PreventiveCheck.objects.get(owner=liz).done_on.isoformat() == "2024-05-14"

    # Her vaccinations against the US schedule, with its source.
    page.get_by_role("link", name="Care habits").click()
    page.get_by_role("link", name="Vaccinations").first.click()
    expect(page.get_by_role("heading", name="To discuss with your clinician")).to_be_visible()
    expect(page.locator("#vaccine-varicella").get_by_text("recorded as due")).to_be_visible()
    expect(page.get_by_role("link", name="Adult Immunization Schedule by Age", exact=False)).to_be_visible()

    # A dose of her current medication, taken this morning.
    page.get_by_role("link", name="Care habits").click()
    page.get_by_role("link", name="Medication routine").first.click()
    section = page.locator("section").filter(has_text="Hydrochlorothiazide").first
    section.get_by_label("Taken").check()
    section.get_by_role("button", name="Log this dose").click()
    expect(page.get_by_text("Dose logged.")).to_be_visible()
    section = page.locator("section").filter(has_text="Hydrochlorothiazide").first
    expect(section.get_by_text("1 taken of 1 dose logged").first).to_be_visible()
    assert DoseLog.objects.filter(owner=liz, taken=True).count() == 1

    # Habits: no connected data yet, each habit says so.
    page.get_by_role("link", name="Care habits").click()
    page.get_by_role("link", name="Habits over time").first.click()
    expect(page.get_by_text("No step data in the last 12 weeks.")).to_be_visible()
    page.get_by_label("Period").select_option("4")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No step data in the last 4 weeks.")).to_be_visible()

    assert blocked == []
