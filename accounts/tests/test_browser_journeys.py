"""Journeys through the account pages in a real Chromium, against the live server.

Each test drives the pages as a patient would: sign up and verify the email by code, turn on
an authenticator app and sign in with it, switch the interface to French, and meet the
health-data consent gate.
"""

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.models import ConsentEvent, ConsentPurpose, User
from accounts.tests.factories import PASSWORD, UserFactory

NEW_PASSWORD = "Blue-Lantern-Orchard-42"
CONSENT_ERROR = "HealthSpace cannot keep health data without your explicit consent."
CONSENT_WARNING = "To keep health data in HealthSpace, first give your consent to its processing."


def totp(secret: str, step: int | None = None) -> str:
    """RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s), as an authenticator app computes it."""
    if step is None:
        step = int(time.time()) // 30
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def fresh_totp(secret: str) -> str:
    """A code that stays valid for a few more seconds: allauth accepts the current step only."""
    if 30 - time.time() % 30 < 3:
        time.sleep(30 - time.time() % 30 + 0.1)
    return totp(secret)


def test_totp_helper_matches_rfc_6238_vector():
    # RFC 6238 appendix B, SHA1, T = 59 s: 94287082, of which an app shows the last 6 digits.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, step=59 // 30) == "287082"


def label(text: str) -> re.Pattern:
    """A field's whole label, with or without the colon Django's forms add to it."""
    return re.compile(rf"^{re.escape(text)}\s*:?$")


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label(label("Email")).fill(email)
    page.get_by_label(label("Password")).fill(password)
    page.get_by_role("button", name="Sign In", exact=True).click()


def confirm_access_with_password(page: Page) -> None:
    """allauth asks for the password again before a sensitive change, even right after signing in."""
    expect(page.get_by_role("heading", name="Confirm Access")).to_be_visible()
    page.get_by_label(label("Password")).fill(PASSWORD)
    page.get_by_role("button", name="Confirm", exact=True).click()


def fill_signup_form(page: Page, email: str) -> None:
    page.get_by_label(label("Email")).fill(email)
    page.get_by_label(label("Password")).fill(NEW_PASSWORD)
    page.get_by_label(label("Password (again)")).fill(NEW_PASSWORD)
    page.get_by_label(label("Display name")).fill("Camille Durand")
    page.get_by_label(label("Country")).select_option(label="France")
    page.get_by_label(label("Preferred language")).select_option("en")


@pytest.mark.browser
def test_signup_then_verify_email_by_code_signs_the_patient_in(page: Page, live_server):
    page.goto(f"{live_server.url}/accounts/signup/")
    fill_signup_form(page, "camille@example.org")
    page.get_by_label("I explicitly consent").check()
    page.get_by_role("button", name="Sign Up", exact=True).click()

    expect(page.get_by_role("heading", name="Enter Email Verification Code")).to_be_visible()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["camille@example.org"]
    # The code stands alone on its line, e.g. "K7QX-M2PD".
    found = re.search(r"^\s*([A-Z0-9]{3,}(?:-[A-Z0-9]{3,})+)\s*$", message.body, re.MULTILINE)
    assert found, message.body
    page.get_by_label(label("Code")).fill(found.group(1))
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Camille Durand")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    user = User.objects.get(email="camille@example.org")
    assert user.emailaddress_set.get().verified
    assert user.profile.country == "FR"
    assert ConsentEvent.objects.filter(
        user=user, purpose=ConsentPurpose.HEALTH_DATA, action=ConsentEvent.Action.GRANT
    ).exists()


@pytest.mark.browser
def test_signup_without_health_data_consent_is_refused(page: Page, live_server):
    page.goto(f"{live_server.url}/accounts/signup/")
    fill_signup_form(page, "noconsent@example.org")
    consent = page.get_by_label("I explicitly consent")
    expect(consent).not_to_be_checked()

    # The browser itself refuses to send the form: the box is required.
    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.get_by_role("button", name="Sign Up", exact=True).click()
    assert consent.evaluate("box => box.validity.valueMissing")
    assert posts == []

    # A browser that skips that check reaches the server, which refuses too and says why.
    page.locator("form:has(#id_health_data_consent)").evaluate("form => { form.noValidate = true; }")
    page.get_by_role("button", name="Sign Up", exact=True).click()
    expect(page.get_by_text(CONSENT_ERROR)).to_be_visible()
    assert posts == [f"{live_server.url}/accounts/signup/"]
    expect(page.get_by_role("heading", name="Sign Up")).to_be_visible()
    assert not User.objects.filter(email="noconsent@example.org").exists()
    assert mail.outbox == []


@pytest.mark.browser
def test_patient_turns_on_authenticator_app_and_signs_in_with_it(page: Page, live_server, patient):
    base = live_server.url
    sign_in(page, base, patient.email)
    expect(page).to_have_url(f"{base}/dashboard/")

    page.goto(f"{base}/accounts/2fa/")
    expect(page.get_by_text("An authenticator app is not active.")).to_be_visible()
    page.get_by_role("link", name="Activate").click()
    confirm_access_with_password(page)
    expect(page.get_by_role("heading", name="Activate Authenticator App")).to_be_visible()
    secret = page.get_by_label("Authenticator secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{16,}=*", secret), secret

    wrong = f"{(int(totp(secret)) + 1) % 1_000_000:06d}"
    page.get_by_label(label("Authenticator code")).fill(wrong)
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    assert not patient.authenticator_set.exists()

    page.get_by_label(label("Authenticator code")).fill(fresh_totp(secret))
    page.get_by_role("button", name="Activate").click()
    # allauth follows up with the recovery codes, to keep somewhere safe.
    expect(page.get_by_role("heading", name="Recovery Codes")).to_be_visible()
    expect(page.get_by_label("Unused codes")).not_to_be_empty()
    assert patient.authenticator_set.filter(type="totp").exists()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()

    sign_in(page, base, patient.email)
    # The password alone does not open the account: the app's code is asked for.
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    # allauth does not mark the activation code as used, so the current step's code is fine here.
    page.get_by_label(label("Code")).fill(fresh_totp(secret))
    page.get_by_role("button", name="Sign In", exact=True).click()

    expect(page).to_have_url(f"{base}/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alex Martin")


@pytest.mark.browser
def test_language_switcher_turns_the_pages_into_french(page: Page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Sign In", exact=True)).to_be_visible()

    page.get_by_label("Language", exact=True).select_option(label="Français")
    page.get_by_role("button", name="Change language").click()

    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    # allauth's own French: the page title and the form labels.
    expect(page.get_by_role("heading", name="Connexion", exact=True)).to_be_visible()
    expect(page).to_have_title(re.compile(r"^\s*Connexion"))
    expect(page.get_by_label(label("Mot de passe"))).to_be_visible()
    expect(page.locator("#language-select")).to_have_value("fr")

    # The choice sticks on the next page.
    page.goto(f"{live_server.url}/accounts/signup/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Création de compte")).to_be_visible()


@pytest.mark.browser
def test_patient_without_health_data_consent_is_sent_to_the_consents_page(page: Page, live_server):
    person = UserFactory(email="noconsent@example.org")
    base = live_server.url
    sign_in(page, base, person.email)

    # Signing in leads to the dashboard, which sends them on to give their consent first.
    expect(page).to_have_url(f"{base}/privacy/consents/")
    expect(page.get_by_text(CONSENT_WARNING)).to_be_visible()
    page.goto(f"{base}/dashboard/")
    expect(page).to_have_url(f"{base}/privacy/consents/")

    row = page.get_by_role("row").filter(has_text="Storing and processing my health data")
    expect(row).to_contain_text("not given")
    row.get_by_role("button", name="Give consent").click()
    expect(page.get_by_text("Your consent was recorded.")).to_be_visible()

    page.goto(f"{base}/dashboard/")
    expect(page).to_have_url(f"{base}/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {person.email}")
