"""Passkeys in a real Chromium, against the live server, with Chromium's virtual authenticator.

A signed-in patient adds a passkey through allauth's MFA pages, then signs out and signs back in
with the passkey alone, without typing a password.

WebAuthn needs a secure context and a relying-party id that is a domain, not an IP address: the
pages are served as http://localhost:<port> (pytest-django's live server already uses that name;
the fixture below keeps it so if the server is started as 127.0.0.1, where no passkey can be
created). allauth takes the relying-party id from the request host ("localhost"), and
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN (on while HTTPS is off) lets it accept the http:// origin.
"""

import base64
import re

import pytest
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from django.urls import reverse
from playwright.sync_api import CDPSession, Page, expect

from accounts.tests.factories import PASSWORD


def label(text: str) -> re.Pattern:
    """A field's whole label, with or without the colon Django's forms add to it."""
    return re.compile(rf"^{re.escape(text)}\s*:?$")


@pytest.fixture
def page(page: Page) -> Page:
    page.set_default_timeout(10_000)
    return page


@pytest.fixture
def base(live_server) -> str:
    """The live server's address, by name."""
    return live_server.url.replace("127.0.0.1", "localhost")


class VirtualAuthenticator:
    """Chromium's virtual authenticator: a platform passkey store that verifies the user at once."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        options = {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]


@pytest.fixture
def authenticator(page: Page) -> VirtualAuthenticator:
    return VirtualAuthenticator(page)


def sign_in_with_password(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}{reverse('account_login')}")
    page.get_by_label(label("Email")).fill(email)
    page.get_by_label(label("Password")).fill(PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(f"{base}/dashboard/")


def add_passkey(page: Page, base: str) -> None:
    """From the two-factor page, add a passwordless key, confirming access with the password first."""
    page.goto(f"{base}{reverse('mfa_index')}")
    expect(page.get_by_text("No security keys have been added.")).to_be_visible()
    page.get_by_role("link", name="Add", exact=True).click()

    # allauth asks for the password again before a security change, even right after signing in.
    expect(page.get_by_role("heading", name="Confirm Access")).to_be_visible()
    page.get_by_label(label("Password")).fill(PASSWORD)
    page.get_by_role("button", name="Confirm", exact=True).click()

    expect(page).to_have_url(f"{base}{reverse('mfa_add_webauthn')}")
    expect(page.get_by_role("heading", name="Add Security Key")).to_be_visible()
    page.get_by_label(label("Name")).fill("My laptop")
    page.get_by_role("checkbox", name="Passwordless").check()
    page.get_by_role("button", name="Add", exact=True).click()

    # The first key comes with recovery codes, shown once to keep somewhere safe.
    expect(page.get_by_text("Security key added.")).to_be_visible()
    expect(page.get_by_role("heading", name="Recovery Codes")).to_be_visible()


@pytest.mark.browser
def test_signed_in_patient_adds_a_passkey(page: Page, base: str, authenticator: VirtualAuthenticator, patient):
    sign_in_with_password(page, base, patient.email)
    assert authenticator.credentials() == []

    add_passkey(page, base)

    page.goto(f"{base}{reverse('mfa_list_webauthn')}")
    expect(page.get_by_role("heading", name="Security Keys")).to_be_visible()
    rows = page.get_by_role("row").filter(has_text="My laptop")
    expect(rows).to_have_count(1)
    # "Passkey", not "Security key": the browser reported a discoverable credential.
    expect(rows).to_contain_text("Passkey")
    expect(rows).to_contain_text("Not used.")

    keys = Authenticator.objects.filter(user=patient, type=Authenticator.Type.WEBAUTHN)
    assert keys.count() == 1
    key = keys.get()
    assert key.wrap().name == "My laptop"
    assert key.wrap().is_passwordless is True
    assert patient.authenticator_set.filter(type=Authenticator.Type.RECOVERY_CODES).exists()

    # The authenticator holds one resident credential for this site and this patient, and it is the one stored.
    [credential] = authenticator.credentials()
    assert credential["rpId"] == "localhost"
    assert credential["isResidentCredential"] is True
    assert base64.b64decode(credential["userHandle"]) == user_pk_to_url_str(patient).encode()
    stored_id = key.wrap().authenticator_data.credential_data.credential_id
    assert base64.b64decode(credential["credentialId"]) == stored_id


@pytest.mark.browser
def test_patient_signs_in_with_the_passkey_alone(page: Page, base: str, authenticator: VirtualAuthenticator, patient):
    sign_in_with_password(page, base, patient.email)
    add_passkey(page, base)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()
    page.goto(f"{base}/dashboard/")
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/accounts/login/"))

    # Nothing typed: the passkey button alone.
    page.goto(f"{base}{reverse('account_login')}")
    page.get_by_role("button", name="Sign in with a passkey").click()

    expect(page).to_have_url(f"{base}/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alex Martin")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    key = Authenticator.objects.get(user=patient, type=Authenticator.Type.WEBAUTHN)
    assert key.last_used_at is not None
    page.goto(f"{base}{reverse('mfa_list_webauthn')}")
    expect(page.get_by_role("row").filter(has_text="My laptop")).to_contain_text("Last used")
