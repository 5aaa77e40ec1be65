"""Tables for the test-only models of ``crypto_models`` (not an installed app: no migrations)."""

import pytest
from django.db import connection

from .crypto_models import HardVault, PlainVault


@pytest.fixture(scope="session")
def crypto_tables(django_db_setup, django_db_blocker):
    """Create the vault tables once, outside any transaction, on whichever database runs."""
    with django_db_blocker.unblock(), connection.schema_editor() as editor:
        editor.create_model(HardVault)
        editor.create_model(PlainVault)


@pytest.fixture
def vault_db(crypto_tables, db):
    """The ``db`` fixture with the vault tables present."""
