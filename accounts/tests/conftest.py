"""Fixtures of the privacy-centre tests: storage of their own, and the fake outside servers other apps' tests use."""

import pytest

from chat.tests.test_chat import fake_openai  # noqa: F401  (the local OpenAI-compatible server)
from integrations.tests.test_withings import fake as withings  # noqa: F401  (the local Withings API)


@pytest.fixture
def media(settings, tmp_path):
    """Default storage in a folder of the test's own: what is left in it after a test is what the test left."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"
