"""The run page in a real Chromium: the bar and the counts follow the run, then the page shows its end.

The test moves the run forward by writing its row, as the worker does, and watches the page.
"""

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from integrations.models import Connection, SyncRun

pytestmark = pytest.mark.browser


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def run(patient):
    connection = Connection.objects.create(owner=patient, provider="myfitnesspal")
    return SyncRun.objects.create(owner=patient, connection=connection, kind=SyncRun.Kind.IMPORT, upload_size=4_000)


def _signed_in(context, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])


def _advance(run, **fields) -> None:
    SyncRun.objects.filter(pk=run.pk).update(**fields)


def test_the_bar_and_the_counts_follow_the_run_without_reloading_the_page(page: Page, live_server, patient, run):
    _signed_in(page.context, live_server, patient)
    blocked = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.goto(f"{live_server.url}/connections/runs/{run.public_id}/")
    bar = page.locator("progress")
    expect(page.get_by_role("status")).to_have_text("Waiting")
    expect(bar).not_to_have_attribute("value", "0")
    # A mark in the page's memory: it survives only while the page is not reloaded.
    page.evaluate("window.stillTheSamePage = true")

    _advance(run, outcome=SyncRun.Outcome.RUNNING, started_at=timezone.now(), bytes_done=1_000, read=120, added=90)
    expect(bar).to_have_js_property("value", 25)
    expect(page.get_by_role("status")).to_have_text("Running")
    expect(page.locator('[data-run-count="read"]')).to_have_text("120")
    expect(page.locator('[data-run-count="added"]')).to_have_text("90")

    _advance(run, bytes_done=3_000, read=360, added=250, already_present=100, rejected=10)
    expect(bar).to_have_js_property("value", 75)
    expect(page.locator('[data-run-count="already_present"]')).to_have_text("100")
    expect(page.locator('[data-run-count="rejected"]')).to_have_text("10")
    assert page.evaluate("window.stillTheSamePage") is True, "the page was reloaded instead of updated"

    _advance(run, outcome=SyncRun.Outcome.SUCCEEDED, bytes_done=4_000, finished_at=timezone.now())
    # Finished: the page is loaded again once, and shows the final state without polling.
    expect(page.locator("script[src$='run_progress.js']")).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage") is None
    expect(page.get_by_role("status")).to_have_text("Done")
    expect(bar).to_have_js_property("value", 100)
    assert blocked == [], blocked


def test_a_failed_run_shows_its_message_once_the_page_reloads(page: Page, live_server, patient, run):
    _signed_in(page.context, live_server, patient)
    page.goto(f"{live_server.url}/connections/runs/{run.public_id}/")
    expect(page.get_by_role("status")).to_have_text("Waiting")
    _advance(
        run,
        outcome=SyncRun.Outcome.FAILED,
        error_code="parse_error",
        error_message="This file is not a MyFitnessPal export.",
        finished_at=timezone.now(),
    )
    expect(page.get_by_role("alert")).to_have_text("This file is not a MyFitnessPal export.")
    expect(page.get_by_role("status")).to_have_text("Failed")


def test_without_javascript_the_page_refreshes_itself_until_the_run_ends(browser: Browser, live_server, patient, run):
    context = browser.new_context(java_script_enabled=False)
    try:
        _signed_in(context, live_server, patient)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{live_server.url}/connections/runs/{run.public_id}/")
        expect(page.get_by_role("status")).to_have_text("Waiting")
        _advance(run, outcome=SyncRun.Outcome.SUCCEEDED, read=5, added=5, finished_at=timezone.now())
        expect(page.get_by_role("status")).to_have_text("Done")
        expect(page.locator('[data-run-count="added"]')).to_have_text("5")
    finally:
        context.close()
