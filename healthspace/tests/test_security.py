"""Security headers, no inline script, and the production deployment check."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.urls import reverse

PAGES = ["home", "account_login", "account_signup", "accounts:privacy_notice"]
SIGNED_IN_PAGES = ["records:dashboard", "accounts:account", "accounts:consents", "accounts:access_log", "mfa_index"]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_carries_the_security_headers(client, db, name):
    response = client.get(reverse(name), secure=True)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("name", SIGNED_IN_PAGES)
def test_signed_in_pages_are_never_stored(patient_client, name):
    response = patient_client.get(reverse(name))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_have_no_inline_script(client, db, name):
    html = client.get(reverse(name)).content.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, f"inline script on {name}: {tag}"
    assert not re.search(r"\son[a-z]+=", html), f"inline event handler on {name}"


def test_templates_of_the_project_have_no_inline_script():
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or "application/json" in tag, f"{template}: {tag}"


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "false",
        "HTTPS": "true",
        "SECRET_KEY": Fernet.generate_key().decode() * 2,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "health.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_missing_page_answers_in_plain_words(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "This page does not exist" in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_a_server_error_shows_no_stack_trace(client, db, settings):
    from django.test import Client
    from django.urls import path

    def broken(request):
        raise RuntimeError("internal detail that must not leak")

    import healthspace.urls

    settings.ROOT_URLCONF = type("urls", (), {"urlpatterns": [path("broken/", broken), *healthspace.urls.urlpatterns]})
    response = Client(raise_request_exception=False).get("/broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert "internal detail" not in page
