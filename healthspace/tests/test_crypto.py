"""Each pitfall of django-encrypted-model-fields (STACK.md) is closed by healthspace.crypto.

A pitfall test runs on the package's own fields (PlainVault) and on ours (HardVault). On the
plain package it is a strict xfail wherever the package really fails on the database in use, so
the day the package fixes one, or ours regresses, the run turns red.
"""

import contextlib
import datetime
import json
from decimal import Decimal

import encrypted_model_fields.fields as package
import pytest
from cryptography.fernet import Fernet
from django import forms
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Upper
from django.test import override_settings
from django.utils import timezone

from healthspace import crypto
from healthspace.crypto import DecryptionError, EncryptedLookupError

from .crypto_models import HardVault, PlainVault

# Settings (DATABASE_URL) are loaded before collection, so the vendor is known here.
VENDOR = connection.vendor
FERNET_PREFIX = "gAAAAA"
TOKYO = datetime.timezone(datetime.timedelta(hours=9))


def plain(fails=True):
    """PlainVault, expected to fail where the plain package has the pitfall."""
    marks = [pytest.mark.xfail(strict=True, reason="pitfall of the plain package")] if fails else []
    return pytest.param(PlainVault, id="plain", marks=marks)


HARD = pytest.param(HardVault, id="hard")
BOTH = [plain(), HARD]


def read_raw(model, column, pk):
    """The stored column value, as the database holds it."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn(column)} FROM {qn(model._meta.db_table)} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def write_raw(model, column, pk, value):
    """Put a value into the column behind the ORM's back."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {qn(model._meta.db_table)} SET {qn(column)} = %s WHERE id = %s", [value, pk])


def foreign_token(text="written under a key we do not have"):
    """Ciphertext from a key that is not configured."""
    return Fernet(Fernet.generate_key()).encrypt(text.encode()).decode()


# -- 1. a wrong or missing key ----------------------------------------------------------------


@pytest.mark.parametrize("model", BOTH)
def test_value_under_a_foreign_key_raises_instead_of_reading_as_ciphertext(vault_db, model):
    row = model.objects.create(char="kept secret")
    token = foreign_token()
    write_raw(model, "char", row.pk, token)

    with pytest.raises(DecryptionError) as excinfo:
        model.objects.get(pk=row.pk)
    assert token not in str(excinfo.value)


@pytest.mark.parametrize("model", BOTH)
def test_value_under_a_foreign_key_is_never_encrypted_again(vault_db, model):
    row = model.objects.create(char="kept secret")
    token = foreign_token()
    write_raw(model, "char", row.pk, token)

    # The package loads the ciphertext as the value, and a save wraps it in a second layer.
    with contextlib.suppress(DecryptionError):
        model.objects.get(pk=row.pk).save()
    assert read_raw(model, "char", row.pk) == token


def test_wrong_or_missing_key_raises_and_leaves_the_data_alone(vault_db):
    row = HardVault.objects.create(char="kept secret", date=datetime.date(1984, 2, 29), integer=7)
    stored = {column: read_raw(HardVault, column, row.pk) for column in ("char", "date", "integer")}

    with override_settings(FIELD_ENCRYPTION_KEY=[Fernet.generate_key().decode()]):
        with pytest.raises(DecryptionError):
            HardVault.objects.get(pk=row.pk)
        with pytest.raises(DecryptionError):
            list(HardVault.objects.values_list("date", flat=True))
        # The clear columns stay editable without touching the encrypted ones.
        partial = HardVault.objects.only("plain_note").get(pk=row.pk)
        partial.plain_note = "edited"
        partial.save()
    with override_settings(FIELD_ENCRYPTION_KEY=[]):
        with pytest.raises(DecryptionError):
            HardVault.objects.get(pk=row.pk)
        with pytest.raises(DecryptionError), transaction.atomic():
            HardVault.objects.create(char="cannot be written")

    assert {column: read_raw(HardVault, column, row.pk) for column in stored} == stored
    assert HardVault.objects.get(pk=row.pk).char == "kept secret"
    assert HardVault.objects.count() == 1


# -- 2. lookups ---------------------------------------------------------------------------------

LOOKUPS = [
    pytest.param({"char": "alpha"}, id="exact"),
    pytest.param({"char__in": ["alpha"]}, id="in"),
    pytest.param({"char__icontains": "LPH"}, id="icontains"),
    pytest.param({"char__gt": "a"}, id="gt"),
    pytest.param({"char__startswith": "al"}, id="startswith"),
    pytest.param({"integer": 5}, id="integer-exact"),
    pytest.param({"date__year": 2020}, id="date-year"),
]


@pytest.mark.parametrize("lookup", LOOKUPS)
@pytest.mark.parametrize("model", BOTH)
def test_lookups_other_than_isnull_raise(vault_db, model, lookup):
    model.objects.create(char="alpha", date=datetime.date(2020, 1, 1))
    # The package answers with nothing (or a database error) where a match exists.
    with pytest.raises(EncryptedLookupError):
        list(model.objects.filter(**lookup))


@pytest.mark.parametrize("model", BOTH)
def test_get_or_create_on_an_encrypted_field_raises(vault_db, model):
    model.objects.create(char="alpha")
    with pytest.raises(EncryptedLookupError):
        model.objects.get_or_create(char="alpha")
    assert model.objects.count() == 1


@pytest.mark.parametrize("model", [PlainVault, HardVault])
def test_isnull_lookups_keep_working(vault_db, model):
    filled = model.objects.create(char="alpha")
    empty = model.objects.create(char=None)

    assert list(model.objects.filter(char=None)) == [empty]
    assert list(model.objects.filter(char__isnull=True)) == [empty]
    assert list(model.objects.exclude(char__isnull=True)) == [filled]


# -- 3. bulk_update() and update() with expressions ---------------------------------------------


@pytest.mark.parametrize("model", BOTH)
def test_bulk_update_stores_real_ciphertext(vault_db, model):
    rows = [model.objects.create(char=f"before {n}") for n in range(3)]
    for n, row in enumerate(rows):
        row.char = f"after {n}"
    model.objects.bulk_update(rows, ["char"])

    for n, row in enumerate(rows):
        token = read_raw(model, "char", row.pk)
        assert token.startswith(FERNET_PREFIX)
        assert crypto.decrypt_str(token) == f"after {n}"


def test_bulk_update_round_trips_every_hardened_field(vault_db):
    rows = [HardVault.objects.create(char="first"), HardVault.objects.create(char="second")]
    moment = datetime.datetime(2024, 3, 10, 8, 30, tzinfo=TOKYO)
    changes = [
        {"char": "A", "email": "a@example.org", "date": datetime.date(2000, 1, 2), "datetime": moment},
        {"boolean": False, "integer": -3, "json": {"k": [1, "two"]}, "text": "B", "char": None},
    ]
    fields = sorted({name for change in changes for name in change})
    for row, change in zip(rows, changes, strict=True):
        for name, value in change.items():
            setattr(row, name, value)
    HardVault.objects.bulk_update(rows, fields)

    for row, change in zip(rows, changes, strict=True):
        fresh = HardVault.objects.get(pk=row.pk)
        assert {name: getattr(fresh, name) for name in change} == change


@pytest.mark.parametrize("model", BOTH)
def test_update_with_a_value_stores_real_ciphertext(vault_db, model):
    row = model.objects.create(char="before")
    model.objects.filter(pk=row.pk).update(char=Value("after"))

    token = read_raw(model, "char", row.pk)
    assert token.startswith(FERNET_PREFIX)
    assert crypto.decrypt_str(token) == "after"


def test_update_with_values_of_every_type_round_trips(vault_db):
    row = HardVault.objects.create()
    values = {
        "date": datetime.date(1999, 12, 31),
        "datetime": datetime.datetime(2024, 1, 1, 23, 59, tzinfo=TOKYO),
        "boolean": False,
        "integer": 2**31 - 1,
        "json": {"nested": [{"a": None}]},
    }
    HardVault.objects.filter(pk=row.pk).update(**{name: Value(value) for name, value in values.items()})

    fresh = HardVault.objects.get(pk=row.pk)
    assert {name: getattr(fresh, name) for name in values} == values


@pytest.mark.parametrize(
    "expression",
    [pytest.param(lambda: Upper("char"), id="upper"), pytest.param(lambda: Concat("char", Value("!")), id="concat")],
)
@pytest.mark.parametrize("model", BOTH)
def test_update_computing_on_ciphertext_raises(vault_db, model, expression):
    row = model.objects.create(char="quiet")
    stored = read_raw(model, "char", row.pk)

    with pytest.raises(EncryptedLookupError), transaction.atomic():
        model.objects.filter(pk=row.pk).update(char=expression())
    assert read_raw(model, "char", row.pk) == stored


@pytest.mark.parametrize("model", BOTH)
def test_update_from_another_encrypted_column_copies_the_value(vault_db, model):
    row = model.objects.create(char="old", other_char="copied")
    model.objects.filter(pk=row.pk).update(char=F("other_char"))
    assert model.objects.get(pk=row.pk).char == "copied"

    row = model.objects.get(pk=row.pk)
    row.other_char = F("char")
    row.save()
    assert model.objects.get(pk=row.pk).other_char == "copied"


@pytest.mark.parametrize("source", ["plain_note", "date"])
def test_update_from_a_column_holding_something_else_raises(vault_db, source):
    # plain_note holds plaintext; a date token would not parse as the text it is copied into.
    row = HardVault.objects.create(char="old", plain_note="clear", date=datetime.date(2020, 1, 1))
    with pytest.raises(EncryptedLookupError), transaction.atomic():
        HardVault.objects.filter(pk=row.pk).update(char=F(source))
    assert HardVault.objects.get(pk=row.pk).char == "old"


@pytest.mark.parametrize("model", BOTH)
def test_create_with_a_value_stores_ciphertext(vault_db, model):
    # INSERT compiles expressions without asking the field: the package stores plaintext.
    row = model.objects.create(char=Value("typed"))
    token = read_raw(model, "char", row.pk)
    assert token.startswith(FERNET_PREFIX)
    assert crypto.decrypt_str(token) == "typed"


def test_create_computing_in_sql_raises(vault_db):
    with pytest.raises(EncryptedLookupError), transaction.atomic():
        HardVault.objects.create(char=Upper(Value("typed")))
    assert not HardVault.objects.exists()


# -- 4. integers on psycopg 3 -------------------------------------------------------------------


@pytest.mark.parametrize("model", [plain(VENDOR == "postgresql"), HARD])
def test_integer_saves_and_loads(vault_db, model):
    row = model.objects.create(integer=-42)
    assert model.objects.get(pk=row.pk).integer == -42

    row.integer = 2**31 - 1
    row.save()
    assert model.objects.get(pk=row.pk).integer == 2**31 - 1


# -- 5. ciphertext typed into a form ------------------------------------------------------------


def package_encrypt(text):
    """A token the package's key opens (the package returns bytes)."""
    return package.encrypt_str(text).decode()


FORM_CASES = [
    pytest.param(
        PlainVault,
        package_encrypt,
        id="plain",
        marks=pytest.mark.xfail(strict=True, reason="pitfall of the plain package"),
    ),
    pytest.param(HardVault, crypto.encrypt_str, id="hard"),
]


@pytest.mark.parametrize(("model", "encrypt"), FORM_CASES)
def test_ciphertext_typed_into_a_form_stays_plain_text(vault_db, model, encrypt):
    typed = encrypt("what the key would reveal")
    form_class = forms.modelform_factory(model, fields=["char", "text"])
    form = form_class(data={"char": typed, "text": typed})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["char"] == typed
    saved = model.objects.get(pk=form.save().pk)
    assert (saved.char, saved.text) == (typed, typed)


@pytest.mark.parametrize(("model", "encrypt"), FORM_CASES)
def test_ciphertext_given_to_a_datetime_field_is_not_decrypted(model, encrypt):
    token = encrypt("2024-05-01T08:30:00+00:00")
    with pytest.raises(ValidationError):
        model._meta.get_field("datetime").to_python(token)


# -- 6. datetimes -------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [plain(VENDOR == "sqlite"), HARD])
def test_datetime_keeps_its_instant(vault_db, model):
    moment = datetime.datetime(2024, 3, 10, 8, 30, 15, 123456, tzinfo=TOKYO)
    # A deployment whose TIME_ZONE is not UTC: the package reads SQLite values in that zone.
    with override_settings(TIME_ZONE="America/New_York"):
        row = model.objects.create(datetime=moment)
        loaded = model.objects.get(pk=row.pk).datetime

    assert timezone.is_aware(loaded)
    assert loaded == moment


@pytest.mark.parametrize("model", BOTH)
def test_naive_datetime_is_refused(vault_db, model):
    with pytest.raises(ValidationError), transaction.atomic():
        model.objects.create(datetime=datetime.datetime(2024, 3, 10, 8, 30))  # noqa: DTZ001
    assert not model.objects.exists()


def test_bare_date_in_a_datetime_field_is_refused(vault_db):
    with pytest.raises(ValidationError), transaction.atomic():
        HardVault.objects.create(datetime=datetime.date(2024, 3, 10))
    assert not HardVault.objects.exists()


# -- 7. what the database holds -----------------------------------------------------------------

SAMPLE = {
    "char": "Maria Lopez",
    "text": "Allergic to penicillin since childhood",
    "email": "maria.lopez@example.org",
    "date": datetime.date(1984, 2, 29),
    "datetime": datetime.datetime(2024, 3, 10, 8, 30, tzinfo=TOKYO),
    "boolean": True,
    "integer": 123456789,
    "json": {"diagnosis": "hypertension", "dose": Decimal("2.50")},
    "other_char": "Maria Lopez",
}
# Long enough that a chance match inside base64 is out of the question.
PLAINTEXTS = ["Maria Lopez", "penicillin", "maria.lopez", "1984-02-29", "2024-03-10", "123456789", "hypertension"]


def test_raw_rows_hold_only_fresh_fernet_tokens(vault_db):
    first = HardVault.objects.create(**SAMPLE)
    second = HardVault.objects.create(**SAMPLE)
    columns = [field.column for field in crypto.encrypted_fields(HardVault)]
    assert len(columns) == len(SAMPLE)

    qn = connection.ops.quote_name
    select = f"SELECT {', '.join(map(qn, columns))} FROM {qn(HardVault._meta.db_table)}"
    with connection.cursor() as cursor:
        cursor.execute(f"{select} WHERE id IN (%s, %s) ORDER BY id", [first.pk, second.pk])
        rows = cursor.fetchall()

    for row in rows:
        for token in row:
            assert token.startswith(FERNET_PREFIX)
            crypto.decrypt_str(token)
            assert not [text for text in PLAINTEXTS if text in token]
        assert row[columns.index("char")] != row[columns.index("other_char")]
    assert all(a != b for a, b in zip(rows[0], rows[1], strict=True))
    assert crypto.decrypt_str(rows[0][columns.index("integer")]) == "123456789"


# -- 8. round trips -----------------------------------------------------------------------------


def test_json_round_trips_nested_structures(vault_db):
    nested = {"readings": [{"at": "08:30", "values": [120, 80.5]}, []], "dose": Decimal("2.50"), "ok": False, "é": "✓"}
    as_list = [1, "two", None, {"three": [3]}]
    rows = [HardVault.objects.create(json=value) for value in (nested, as_list, {})]

    loaded = [HardVault.objects.get(pk=row.pk).json for row in rows]
    assert loaded == [{**nested, "dose": "2.50"}, as_list, {}]


@pytest.mark.parametrize("model", [PlainVault, HardVault])
def test_boolean_date_and_none_round_trip(vault_db, model):
    true = model.objects.create(boolean=True, date=datetime.date(2024, 2, 29))
    false = model.objects.create(boolean=False, date=datetime.date(1900, 1, 1))
    empty = model.objects.create()

    assert [(row.boolean, row.date) for row in model.objects.order_by("pk")] == [
        (True, datetime.date(2024, 2, 29)),
        (False, datetime.date(1900, 1, 1)),
        (None, None),
    ]
    assert read_raw(model, "boolean", false.pk).startswith(FERNET_PREFIX)
    assert read_raw(model, "date", true.pk).startswith(FERNET_PREFIX)
    assert [read_raw(model, column, empty.pk) for column in ("char", "boolean", "date", "integer")] == [None] * 4


def test_json_none_stays_null(vault_db):
    row = HardVault.objects.create(json=None)
    assert read_raw(HardVault, "json", row.pk) is None
    assert HardVault.objects.get(pk=row.pk).json is None


def test_serializers_round_trip_every_hardened_field(vault_db):
    # dumpdata writes value_to_string(); loaddata rebuilds each value with to_python(), as here
    # (crypto_tests is not an installed app, so the deserializer itself cannot look it up).
    row = HardVault.objects.create(**SAMPLE)
    dumped = json.loads(serializers.serialize("json", [row]))[0]["fields"]
    restored = HardVault(**{name: HardVault._meta.get_field(name).to_python(value) for name, value in dumped.items()})
    restored.save()

    fresh = HardVault.objects.get(pk=restored.pk)
    expected = {**SAMPLE, "json": {"diagnosis": "hypertension", "dose": "2.50"}}
    assert {name: getattr(fresh, name) for name in SAMPLE} == expected
