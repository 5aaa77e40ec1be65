"""The one place that knows about keys and ciphertext.

Hardened subclasses of django-encrypted-model-fields. The package's fields have pitfalls
(STACK.md); each is closed here:

- a wrong or missing key raises ``DecryptionError`` instead of returning the ciphertext as the
  value (which a later save would encrypt again);
- every lookup but ``isnull`` raises ``EncryptedLookupError`` instead of matching nothing;
- ``bulk_update()``, ``update()`` and ``create()`` with a ``Value`` store real ciphertext, and
  ``F()`` copies another encrypted column of the same kind; any other SQL expression (which
  would compute on ciphertext, or store plaintext) raises;
- values are serialised by us, not by the database adapter, so integer fields work on
  psycopg 3 and datetimes keep their instant on SQLite whatever ``TIME_ZONE`` is (they are
  stored and returned in UTC; a naive datetime is refused);
- ``to_python`` never decrypts, so ciphertext typed into a form stays plain text.

Keys come from ``settings.FIELD_ENCRYPTION_KEY`` (a list: the first encrypts, all decrypt), read
on use rather than at import, so a rotation or a test can change them.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import json
from collections.abc import Iterator

import encrypted_model_fields.fields as package
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Case, F, Value, When
from django.db.models.expressions import Col
from django.db.models.functions import Cast
from django.db.models.lookups import IsNull
from django.utils import timezone


class DecryptionError(Exception):
    """Stored ciphertext could not be decrypted with any configured key.

    The message never carries the ciphertext or the plaintext.
    """


class EncryptedLookupError(FieldError):
    """A query tried to compare or transform an encrypted column."""


@functools.lru_cache(maxsize=8)
def _crypter_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def configured_keys() -> tuple[str, ...]:
    """The configured keys, first (encrypting) key first."""
    keys = settings.FIELD_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = [keys]
    keys = tuple(key for key in keys if key)
    if not keys:
        raise DecryptionError("FIELD_ENCRYPTION_KEY is empty: encrypted data cannot be read or written.")
    return keys


def crypter() -> MultiFernet:
    """The MultiFernet for the configured keys."""
    return _crypter_for(configured_keys())


def primary_crypter() -> Fernet:
    """The Fernet for the first key alone: what a rotated token must open with."""
    return _crypter_for(configured_keys()[:1])


def encrypt_str(plaintext: str) -> str:
    """Encrypt text under the first key."""
    return crypter().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_str(token: str) -> str:
    """Decrypt a token with any configured key, or raise DecryptionError."""
    if isinstance(token, bytes):
        token = token.decode("ascii", errors="replace")
    try:
        return crypter().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, TypeError, AttributeError):
        raise DecryptionError(
            "A stored value cannot be decrypted with FIELD_ENCRYPTION_KEY: the key is wrong or "
            "missing, or the column holds data that was not written through an encrypted field."
        ) from None


def is_under_primary_key(token: str) -> bool:
    """Whether a token already opens with the first key (rotation skips it)."""
    if isinstance(token, bytes):
        token = token.decode("ascii", errors="replace")
    try:
        primary_crypter().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError, AttributeError):
        return False
    return True


def rotate_token(token: str) -> str:
    """Re-encrypt a token under the first key (raises DecryptionError if no key opens it)."""
    if isinstance(token, bytes):
        token = token.decode("ascii", errors="replace")
    try:
        return crypter().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, AttributeError):
        raise DecryptionError("A stored value cannot be decrypted with any key in FIELD_ENCRYPTION_KEY.") from None


class _RefusedLookupMixin:
    def __init__(self, lhs, rhs):
        # `filter(field=None)` is built as an exact lookup first, then turned into isnull.
        if rhs is not None:
            raise EncryptedLookupError(
                f"{_field_label(lhs)} is encrypted: only `isnull` lookups are possible. "
                "Compare decrypted values in Python, or add a keyed-hash column for exact matches."
            )
        super().__init__(lhs, rhs)


def _field_label(lhs) -> str:
    field = getattr(lhs, "target", None) or getattr(lhs, "output_field", None)
    model = getattr(field, "model", None)
    if model is not None:
        return f"{model._meta.label}.{field.name}"
    return "This column"


class EncryptedFieldMixin:
    """Encrypt on the way in, decrypt on the way out, refuse everything in between."""

    encrypted = True

    # -- plaintext encoding (subclasses override) ---------------------------------------------
    # Not named serialize/deserialize: Field.__init__ sets `self.serialize = True`, which would
    # shadow such a method and make every save fail.
    def to_plaintext(self, value) -> str:
        """The text that is encrypted for a Python value."""
        return str(value)

    def from_plaintext(self, text: str):
        """The Python value for decrypted text."""
        return self._plain_to_python(text)

    # -- Django field API ----------------------------------------------------------------------
    def get_internal_type(self):
        return "TextField"

    def _plain_to_python(self, value):
        # Skip the package's to_python, which decrypts whatever string it is handed.
        return super(package.EncryptedMixin, self).to_python(value)

    def to_python(self, value):
        return self._plain_to_python(value)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return self.from_plaintext(decrypt_str(value))

    def get_prep_value(self, value):
        # Validation and coercion of the plain value only; encryption happens per connection.
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return self.to_python(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if not prepared:
            value = self.get_prep_value(value)
            if value is None:
                return None
        return encrypt_str(self.to_plaintext(value))

    def get_db_prep_save(self, value, connection):
        return self.get_db_prep_value(value, connection, prepared=False)

    def pre_save(self, model_instance, add):
        # INSERT compiles an expression without asking the field (no get_placeholder call), so
        # `create(field=Value("x"))` would store plaintext: vet expressions here as well.
        value = super().pre_save(model_instance, add)
        if hasattr(value, "resolve_expression"):
            self._check_update_expression(value)
        return value

    def get_placeholder(self, value, compiler, connection):
        # Called by UPDATE for every value, including SQL expressions. An expression would
        # compute on ciphertext, so only those that yield correct ciphertext are let through.
        if hasattr(value, "as_sql"):
            self._check_update_expression(value)
        return "%s"

    def _check_update_expression(self, expression):
        if isinstance(expression, Value):
            # `update(field=Value(x))`: this field must encode and encrypt x, whatever output
            # field the Value guessed (a guessed CharField would store plaintext).
            if expression._output_field_or_none is not self:
                expression.output_field = self
                expression.__dict__.pop("_output_field_or_none", None)
            return
        if isinstance(expression, F):
            return  # not resolved yet (Model.save()): UPDATE checks the resolved column again
        if isinstance(expression, Col) and self._same_plaintext(expression.target):
            return  # copying another encrypted column copies valid ciphertext
        if isinstance(expression, (Case, Cast)):
            # bulk_update(): CASE WHEN pk=... THEN <value> ... END (cast on PostgreSQL)
            results = expression.get_source_expressions()
            if isinstance(expression, Case):
                results = [when.result for when in expression.cases] + [expression.default]
            for result in results:
                self._check_update_expression(result)
            return
        if isinstance(expression, When):
            self._check_update_expression(expression.result)
            return
        raise EncryptedLookupError(
            f"{self.model._meta.label}.{self.name} is encrypted: it cannot be set with the SQL "
            f"expression {type(expression).__name__}. Load the rows, change them in Python, and save."
        )

    def _same_plaintext(self, other) -> bool:
        # A date token copied into an integer column would decrypt to text it cannot parse.
        return (
            isinstance(other, EncryptedFieldMixin)
            and type(other).to_plaintext is type(self).to_plaintext
            and type(other).from_plaintext is type(self).from_plaintext
            and type(other)._plain_to_python is type(self)._plain_to_python
        )

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return IsNull
        base = super().get_lookup(lookup_name)
        if base is None:
            return None
        return type(f"Refused{base.__name__}", (_RefusedLookupMixin, base), {})

    def get_transform(self, name):
        raise EncryptedLookupError(
            f"{self.model._meta.label}.{self.name} is encrypted: `__{name}` cannot be applied to it."
        )

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return None if value is None else self.to_plaintext(value)


class EncryptedCharField(EncryptedFieldMixin, package.EncryptedCharField):
    """Short text, encrypted."""


class EncryptedTextField(EncryptedFieldMixin, package.EncryptedTextField):
    """Long text, encrypted."""


class EncryptedEmailField(EncryptedFieldMixin, package.EncryptedEmailField):
    """An email address, encrypted."""


class EncryptedDateField(EncryptedFieldMixin, package.EncryptedDateField):
    """A date, encrypted as ISO 8601."""

    def to_plaintext(self, value) -> str:
        """ISO 8601 date."""
        return value.isoformat()


class EncryptedDateTimeField(EncryptedFieldMixin, package.EncryptedDateTimeField):
    """An aware datetime, encrypted as ISO 8601 in UTC (the same instant on every database)."""

    def _plain_to_python(self, value):
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            # Django would silently read a bare date as midnight in TIME_ZONE.
            raise self._naive_error()
        # The mixin's parent is Django's DateTimeField.to_python; the package's would decrypt.
        value = super()._plain_to_python(value)
        if value is not None and timezone.is_naive(value):
            raise self._naive_error()
        return value

    def _naive_error(self):
        return ValidationError(
            f"{self.name}: a naive datetime cannot be stored; give it a time zone.", code="naive_datetime"
        )

    def to_plaintext(self, value) -> str:
        """ISO 8601 in UTC."""
        return value.astimezone(datetime.UTC).isoformat()


class EncryptedBooleanField(EncryptedFieldMixin, package.EncryptedBooleanField):
    """True or False, encrypted."""

    def to_plaintext(self, value) -> str:
        """``1`` or ``0``."""
        return "1" if value else "0"


class EncryptedIntegerField(EncryptedFieldMixin, package.EncryptedIntegerField):
    """An integer, encrypted (works on psycopg 3, unlike the package's)."""

    def to_plaintext(self, value) -> str:
        """Decimal digits."""
        return str(int(value))


class EncryptedJSONField(EncryptedFieldMixin, package.EncryptedTextField):
    """A JSON-serialisable structure (dicts, lists, numbers as Decimal-safe text), encrypted."""

    def _plain_to_python(self, value):
        return value

    def to_plaintext(self, value) -> str:
        """Compact JSON; Decimal, dates and UUIDs become strings."""
        return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))

    def from_plaintext(self, text: str):
        """The decoded JSON."""
        return json.loads(text)

    def value_to_string(self, obj):
        # As Django's JSONField: the serializer nests the structure, and loaddata's to_python
        # takes it back unchanged (a JSON string here would be loaded as a string).
        return self.value_from_object(obj)

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"form_class": forms.JSONField, **kwargs})


def encrypted_fields(model) -> list[EncryptedFieldMixin]:
    """The encrypted concrete fields of a model."""
    return [field for field in model._meta.concrete_fields if isinstance(field, EncryptedFieldMixin)]


def table_encrypted_fields(model) -> list[EncryptedFieldMixin]:
    """The encrypted columns of the model's own table (none for a proxy, none of a parent's table)."""
    if model._meta.proxy:
        return []
    local = set(model._meta.local_concrete_fields)
    return [field for field in encrypted_fields(model) if field in local]


def keyed_hash(*parts: str) -> str:
    """HMAC-SHA256 of the parts under FIELD_HASH_KEY: exact matches without storing plaintext."""
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(settings.FIELD_HASH_KEY.encode("utf-8"), message, hashlib.sha256).hexdigest()


def encrypt_bytes(data: bytes) -> bytes:
    """Encrypt a file's bytes under the first key (documents, exports)."""
    return crypter().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    """Decrypt a file's bytes with any configured key, or raise DecryptionError."""
    try:
        return crypter().decrypt(token)
    except (InvalidToken, TypeError):
        raise DecryptionError("A stored file cannot be decrypted with FIELD_ENCRYPTION_KEY.") from None


# Files too large for memory (exports, uploads) are encrypted in chunks: each chunk is a Fernet
# token preceded by its length, so a reader never holds more than one chunk.
STREAM_CHUNK = 1024 * 1024
_LENGTH = 4


def encrypt_stream(source, destination, *, chunk_size: int = STREAM_CHUNK) -> int:
    """Encrypt a binary stream into another, chunk by chunk; returns the plaintext size."""
    total = 0
    fernet = crypter()
    while chunk := source.read(chunk_size):
        token = fernet.encrypt(chunk)
        destination.write(len(token).to_bytes(_LENGTH, "big"))
        destination.write(token)
        total += len(chunk)
    return total


def decrypt_chunks(source) -> Iterator[bytes]:
    """The plaintext of a stream written by encrypt_stream, one chunk at a time (a download streams it)."""
    fernet = crypter()
    while header := source.read(_LENGTH):
        if len(header) != _LENGTH:
            raise DecryptionError("An encrypted file is truncated.")
        token = source.read(int.from_bytes(header, "big"))
        try:
            chunk = fernet.decrypt(token)
        except InvalidToken:
            raise DecryptionError("An encrypted file cannot be decrypted with FIELD_ENCRYPTION_KEY.") from None
        yield chunk


def decrypt_stream(source, destination) -> int:
    """Decrypt a stream written by encrypt_stream into another; returns the plaintext size."""
    total = 0
    for chunk in decrypt_chunks(source):
        destination.write(chunk)
        total += len(chunk)
    return total
