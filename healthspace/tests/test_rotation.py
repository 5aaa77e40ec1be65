"""`manage.py rotate_encryption_keys` on real data: accounts.Profile.date_of_birth."""

import datetime
import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from accounts.models import Profile, User
from healthspace import crypto

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
ROTATING = [NEW_KEY, OLD_KEY]
BIRTH_DATES = [datetime.date(1950 + n, 1 + n, 10 + n) for n in range(5)] + [None]


@pytest.fixture
def profiles(db):
    """Six profiles written under the old key, the last without a birth date: {pk: date}."""
    made = {}
    with override_settings(FIELD_ENCRYPTION_KEY=[OLD_KEY]):
        for n, born in enumerate(BIRTH_DATES):
            user = User.objects.create_user(email=f"rotation{n}@example.org", password="a long enough password")
            made[Profile.objects.create(user=user, date_of_birth=born).pk] = born
    return made


def stored_tokens():
    """{pk: raw date_of_birth column} for every profile."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, date_of_birth FROM accounts_profile ORDER BY id")
        return dict(cursor.fetchall())


def opens_with(key, token):
    """Whether this one key opens the token."""
    try:
        Fernet(key).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(*args):
    """Run the command; returns (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_rotation_moves_every_value_to_the_first_key(profiles):
    before = stored_tokens()

    with override_settings(FIELD_ENCRYPTION_KEY=ROTATING):
        output, _ = rotate("--batch-size", "2")
    after = stored_tokens()

    assert "accounts.Profile: 6 rows scanned, 5 re-encrypted" in output
    assert "Total: " in output
    secrets = [*before.values(), *after.values(), *(born.isoformat() for born in profiles.values() if born)]
    assert not [text for text in secrets if text and text in output]
    assert after[max(profiles)] is None
    for pk, token in after.items():
        if token is not None:
            assert token != before[pk]
            assert opens_with(NEW_KEY, token)
            assert not opens_with(OLD_KEY, token)
    with override_settings(FIELD_ENCRYPTION_KEY=[NEW_KEY]):
        assert {profile.pk: profile.date_of_birth for profile in Profile.objects.all()} == profiles

    with override_settings(FIELD_ENCRYPTION_KEY=ROTATING):
        output, _ = rotate()
    assert "accounts.Profile: 6 rows scanned, 0 re-encrypted" in output
    assert stored_tokens() == after


def test_interrupted_rotation_resumes_without_redoing_rows(profiles, monkeypatch):
    real_rotate_token = crypto.rotate_token
    calls = 0

    def interrupted_in_second_batch(token):
        nonlocal calls
        calls += 1
        if calls > 2:
            raise KeyboardInterrupt
        return real_rotate_token(token)

    monkeypatch.setattr(crypto, "rotate_token", interrupted_in_second_batch)
    with override_settings(FIELD_ENCRYPTION_KEY=ROTATING):
        with pytest.raises(KeyboardInterrupt):
            rotate("--batch-size", "2")
        first_run = stored_tokens()
        monkeypatch.undo()
        output, _ = rotate("--batch-size", "2")
    second_run = stored_tokens()

    # The first batch was committed; the second was rolled back mid-way.
    rotated_first = {pk for pk, token in first_run.items() if token and opens_with(NEW_KEY, token)}
    assert rotated_first == set(sorted(profiles)[:2])
    assert "3 re-encrypted" in output
    assert all(opens_with(NEW_KEY, token) for token in second_run.values() if token)
    assert {pk: second_run[pk] for pk in rotated_first} == {pk: first_run[pk] for pk in rotated_first}


def test_dry_run_writes_nothing(profiles):
    before = stored_tokens()
    with override_settings(FIELD_ENCRYPTION_KEY=ROTATING):
        output, _ = rotate("--dry-run", "--batch-size", "4")
    assert stored_tokens() == before
    assert "accounts.Profile: 6 rows scanned, 5 to re-encrypt (dry run, nothing written)" in output


def test_value_no_key_opens_fails_the_run_without_revealing_it(profiles):
    lost_pk = min(profiles)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"1970-01-01").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_profile SET date_of_birth = %s WHERE id = %s", [foreign, lost_pk])

    with override_settings(FIELD_ENCRYPTION_KEY=ROTATING), pytest.raises(CommandError) as excinfo:
        rotate("--batch-size", "2")

    message = str(excinfo.value)
    assert f"accounts.Profile.date_of_birth: 1 value(s), row id(s) {lost_pk}" in message
    assert foreign not in message
    assert "1970" not in message
    after = stored_tokens()
    assert after[lost_pk] == foreign
    assert all(opens_with(NEW_KEY, token) for pk, token in after.items() if token and pk != lost_pk)


def test_value_rewritten_during_rotation_is_kept(profiles, monkeypatch):
    # The application may save a row between the command's SELECT and its UPDATE.
    first_pk = min(profiles)
    real_rotate_token = crypto.rotate_token
    rewritten = datetime.date(2001, 1, 1)
    saved = False

    def application_saves_meanwhile(token):
        nonlocal saved
        if not saved:  # the first token rotated is the first profile's
            saved = True
            Profile.objects.filter(pk=first_pk).update(date_of_birth=rewritten)
        return real_rotate_token(token)

    monkeypatch.setattr(crypto, "rotate_token", application_saves_meanwhile)
    with override_settings(FIELD_ENCRYPTION_KEY=ROTATING):
        output, _ = rotate("--batch-size", "2")
        assert Profile.objects.get(pk=first_pk).date_of_birth == rewritten
    assert "1 changed meanwhile and left for the next run" in output
