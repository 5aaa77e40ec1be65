"""The system checks stop start-up on a missing, invalid or wrong FIELD_ENCRYPTION_KEY."""

import datetime
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import override_settings

from accounts.models import Profile, User
from healthspace.checks import check_encryption_key, check_encryption_key_opens_data

from .crypto_models import AheadVault, HardVault

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()
BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param([], ["healthspace.E001"], id="empty"),
        pytest.param(["not-a-key"], ["healthspace.E002"], id="not-a-key"),
        pytest.param([KEY, "not-a-key"], ["healthspace.E002"], id="second-invalid"),
        pytest.param([KEY, KEY], ["healthspace.E003"], id="duplicate"),
        pytest.param([KEY], [], id="valid"),
        pytest.param(KEY, [], id="valid-string"),
        pytest.param([KEY, OTHER_KEY], [], id="rotation"),
    ],
)
def test_key_check(keys, expected):
    with override_settings(FIELD_ENCRYPTION_KEY=keys):
        errors = check_encryption_key()
    assert [error.id for error in errors] == expected
    assert all("not-a-key" not in error.msg for error in errors)


def test_data_check_reports_stored_values_the_keys_cannot_open(db):
    user = User.objects.create_user(email="check@example.org", password="a long enough password")
    Profile.objects.create(user=user, date_of_birth=datetime.date(1990, 5, 17))
    current = list(settings.FIELD_ENCRYPTION_KEY)

    assert check_encryption_key_opens_data(databases=["default"]) == []
    with override_settings(FIELD_ENCRYPTION_KEY=[OTHER_KEY]):
        errors = check_encryption_key_opens_data(databases=["default"])
    with override_settings(FIELD_ENCRYPTION_KEY=[OTHER_KEY, *current]):
        assert check_encryption_key_opens_data(databases=["default"]) == []

    assert [error.id for error in errors] == ["healthspace.E004"]
    assert "accounts.Profile.date_of_birth" in errors[0].msg
    assert check_encryption_key_opens_data(databases=None) == []


def test_data_check_skips_columns_not_migrated_yet(vault_db):
    # `migrate` runs database checks before it adds a new column: the check must not crash.
    HardVault.objects.create(char="stored")
    vault_app = SimpleNamespace(get_models=lambda: [AheadVault])

    assert check_encryption_key_opens_data(app_configs=[vault_app], databases=["default"]) == []
    with override_settings(FIELD_ENCRYPTION_KEY=[OTHER_KEY]):
        errors = check_encryption_key_opens_data(app_configs=[vault_app], databases=["default"])
    assert [error.msg.split(":")[0] for error in errors] == ["crypto_tests.AheadVault.char"]


def test_manage_py_check_refuses_an_invalid_key():
    env = {**os.environ, "FIELD_ENCRYPTION_KEY": "not-a-key"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY" in result.stderr
