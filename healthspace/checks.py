"""System checks: the encryption key must be usable before anything starts."""

from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import connections

from . import crypto

# The placeholder of .env.example: anyone can read it, so it must never protect real data.
EXAMPLE_KEY = "REPLACE-ME-run-make-.env"


@register(Tags.security, deploy=False)
def check_encryption_key(app_configs=None, **kwargs):
    """FIELD_ENCRYPTION_KEY holds at least one valid, distinct Fernet key."""
    keys = settings.FIELD_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = [keys]
    keys = [key for key in (keys or []) if key]
    if not keys:
        return [Error("FIELD_ENCRYPTION_KEY is not set.", hint="Run `make .env`, or set it.", id="healthspace.E001")]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY: key number {position} is not a valid Fernet key.",
                    hint='Generate one with `python -c "from cryptography.fernet import Fernet; '
                    'print(Fernet.generate_key().decode())"`.',
                    id="healthspace.E002",
                )
            )
    if len(set(keys)) != len(keys):
        errors.append(Error("FIELD_ENCRYPTION_KEY lists the same key twice.", id="healthspace.E003"))
    return errors


@register(Tags.database)
def check_encryption_key_opens_data(app_configs=None, databases=None, **kwargs):
    """The configured keys open what is already stored (a wrong key stops start-up)."""
    if not databases or check_encryption_key():
        return []
    models = apps.get_models() if app_configs is None else [m for config in app_configs for m in config.get_models()]
    errors = []
    for alias in databases:
        connection = connections[alias]
        tables = set(connection.introspection.table_names())
        for model in models:
            fields = crypto.table_encrypted_fields(model)
            if not fields or model._meta.db_table not in tables:
                continue  # not migrated yet: nothing stored
            columns = _column_names(connection, model._meta.db_table)
            for field in fields:
                # `migrate` runs this check before it adds a new column.
                if field.column not in columns:
                    continue
                token = _one_stored_value(connection, model, field)
                if token is None:
                    continue
                try:
                    crypto.decrypt_str(token)
                except crypto.DecryptionError:
                    errors.append(
                        Error(
                            f"{model._meta.label}.{field.name}: stored data cannot be decrypted with "
                            "FIELD_ENCRYPTION_KEY.",
                            hint="Restore the key that encrypted it (keep old keys after the new one "
                            "until `manage.py rotate_encryption_keys` has run).",
                            id="healthspace.E004",
                        )
                    )
    return errors


def _column_names(connection, table):
    with connection.cursor() as cursor:
        return {column.name for column in connection.introspection.get_table_description(cursor, table)}


def _one_stored_value(connection, model, field):
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(field.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL LIMIT 1")  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None
