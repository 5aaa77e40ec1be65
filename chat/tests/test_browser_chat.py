"""The chat in a real Chromium: a streamed answer with its citations, and a temporary chat that stores nothing."""

import datetime

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Page, expect

from chat.models import Conversation, Message
from records.models import Medication, Source

pytestmark = pytest.mark.browser


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


def _signed_in(page: Page, live_server, user) -> list[str]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    return blocked


@pytest.fixture
def metformin(patient):
    return Medication.objects.create(
        owner=patient,
        name="Metformin 500 mg",
        effective_at=datetime.datetime(2025, 3, 3, tzinfo=datetime.UTC),
        source=Source.MANUAL,
    )


def test_a_question_streams_an_answer_that_cites_the_record(page: Page, live_server, patient, metformin):
    blocked = _signed_in(page, live_server, patient)
    page.goto(f"{live_server.url}/chat/")
    page.get_by_role("button", name="New conversation").click()

    page.get_by_label("Your question").fill("What medications do I take?")
    page.get_by_role("button", name="Send").click()

    # The page comes back with the stored answer, its citation linking to the record.
    expect(page.locator(".chat-assistant .chat-text")).to_contain_text("Metformin 500 mg")
    citation = page.locator(".citations a").first
    expect(citation).to_have_attribute("href", f"/records/medications/{metformin.public_id}/")
    assert "?after=" in page.url
    conversation = Conversation.objects.get(owner=patient)
    assert conversation.title == "What medications do I take?"
    assert blocked == []

    citation.click()
    expect(page.locator("h1")).to_contain_text("Metformin 500 mg")


def test_a_temporary_chat_answers_in_the_page_and_stores_nothing(page: Page, live_server, patient, metformin):
    blocked = _signed_in(page, live_server, patient)
    page.goto(f"{live_server.url}/chat/temporary/")
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_label("Your question").fill("What medications do I take?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-assistant .chat-text").last).to_contain_text("Metformin 500 mg")
    page.get_by_label("Your question").fill("Am I allergic to anything?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-assistant")).to_have_count(2)

    assert page.evaluate("window.stillTheSamePage") is True  # streamed into the page, no reload
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert blocked == []
