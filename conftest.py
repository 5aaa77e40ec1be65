"""The named cast and the service gates shared by every test.

Tests that need PostgreSQL, Redis or Chromium are skipped with a reason when the service is
missing; with REQUIRE_SERVICES=1 (CI) such a skip is a failure.
"""

import os
import shutil

import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in the test thread; Django must still allow the ORM.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Tests use plain static storage (no collectstatic manifest) and a fast password hasher.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# whitenoise warns on every request when STATIC_ROOT does not exist (no collectstatic in tests).
os.makedirs(settings.STATIC_ROOT, exist_ok=True)

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def service_missing(reason: str):
    """Skip (locally) or fail (CI, REQUIRE_SERVICES=1) a test whose service is not there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"REQUIRE_SERVICES=1: nothing may be skipped ({report.longrepr})"


@pytest.fixture(scope="session", autouse=True)
def _own_file_cache(tmp_path_factory):
    """A test run's file cache of its own: two runs on one machine never clear each other's rate limits."""
    from django.conf import settings
    from django.test import override_settings

    default = settings.CACHES["default"]
    if not default["BACKEND"].endswith("FileBasedCache"):
        yield
        return
    with override_settings(CACHES={"default": {**default, "LOCATION": str(tmp_path_factory.mktemp("cache"))}}):
        yield


@pytest.fixture(autouse=True)
def _clear_cache(_own_file_cache):
    # allauth's rate limits live in the cache: each test starts with none.
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _english_by_default():
    # A request in French leaves French active in the thread: each test starts in English.
    from django.utils import translation

    translation.activate("en")
    yield
    translation.activate("en")


@pytest.fixture
def require_postgres():
    from django.db import connection

    if connection.vendor != "postgresql":
        service_missing("needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture
def require_redis():
    if not settings.REDIS_URL:
        service_missing("needs Redis: set REDIS_URL=redis://...")


@pytest.fixture(scope="session")
def browser_type_launch_args():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        service_missing(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture
def patient(db):
    from accounts.tests.factories import PatientFactory

    return PatientFactory(email="patient@example.org")


@pytest.fixture
def other_patient(db):
    from accounts.tests.factories import PatientFactory

    return PatientFactory(email="other.patient@example.org")


@pytest.fixture
def staff(db):
    from accounts.tests.factories import StaffFactory

    return StaffFactory(email="staff@healthspace.example")


@pytest.fixture
def patient_client(client, patient):
    client.force_login(patient)
    return client


@pytest.fixture
def features_open(db):
    """Every gated feature (accounts.rollout) open to everyone, for tests of the features themselves."""
    from waffle import get_waffle_flag_model

    from accounts.rollout import features

    for flag in features():
        found, _created = get_waffle_flag_model().objects.update_or_create(name=flag, defaults={"everyone": True})
        found.flush()  # waffle flushes its cache on commit, which a test's transaction never reaches
