"""Re-encrypt every stored encrypted value under the first key of FIELD_ENCRYPTION_KEY.

Rotation: put the new key first and keep the old ones after it, deploy, run this command, then
drop the old keys. Rows are read and written with raw SQL in batches of their own transaction:
the ORM would decrypt and re-encrypt every value, and a value that opens with no key would stop
the load. A value already under the first key is left untouched, so an interrupted run is
finished by running the command again.
"""

from collections import Counter

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from healthspace import crypto

# Enough row ids to find the unreadable values; more would flood the message.
SHOWN_IDS = 10


class Command(BaseCommand):
    """rotate_encryption_keys [--batch-size N] [--dry-run] [--database ALIAS]"""

    help = "Re-encrypt every stored encrypted value under the first key of FIELD_ENCRYPTION_KEY."

    def add_arguments(self, parser):
        """--batch-size, --dry-run and --database."""
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted; write nothing.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args, batch_size, dry_run, database, **options):
        """Rotate every encrypted column of every installed model, batch by batch."""
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.verbosity = options["verbosity"]
        try:
            keys = crypto.configured_keys()
        except crypto.DecryptionError as exc:
            raise CommandError(str(exc)) from None
        if len(keys) == 1:
            self.stdout.write("FIELD_ENCRYPTION_KEY holds one key: values under another key cannot be rotated.")
        connection = connections[database]
        tables = set(connection.introspection.table_names())
        total = Counter()
        unreadable = []
        try:
            for model in apps.get_models():
                fields = crypto.table_encrypted_fields(model)
                if not fields:
                    continue
                label = model._meta.label
                if model._meta.db_table not in tables:
                    self.stdout.write(f"{label}: no table yet, skipped")
                    continue
                counts, failed = self._rotate_model(connection, model, fields, batch_size, dry_run)
                total.update(counts)
                unreadable.extend(failed)
                self.stdout.write(self._summary(label, counts, dry_run))
        except KeyboardInterrupt:
            self.stderr.write(
                "Interrupted: the batches already written are kept; run the command again to finish the rest."
            )
            raise
        self.stdout.write(self._summary("Total", total, dry_run))
        if unreadable:
            lines = [
                f"  {label}.{name}: {len(ids)} value(s), row id(s) {', '.join(map(str, ids[:SHOWN_IDS]))}"
                + (" ..." if len(ids) > SHOWN_IDS else "")
                for label, name, ids in unreadable
            ]
            raise CommandError(
                "Some stored values open with no key in FIELD_ENCRYPTION_KEY and were left unchanged:\n"
                + "\n".join(lines)
                + "\nAdd the key that wrote them after the first key, then run the command again."
            )

    def _summary(self, label, counts, dry_run):
        verb = "to re-encrypt (dry run, nothing written)" if dry_run else "re-encrypted"
        line = f"{label}: {counts['scanned']} rows scanned, {counts['rotated']} {verb}"
        if counts["raced"]:
            line += f", {counts['raced']} changed meanwhile and left for the next run"
        return line

    def _rotate_model(self, connection, model, fields, batch_size, dry_run):
        qn = connection.ops.quote_name
        pk = model._meta.pk
        if pk.column is None:
            raise CommandError(f"{model._meta.label}: a composite primary key is not supported.")
        table, pk_column = qn(model._meta.db_table), qn(pk.column)
        columns = [qn(field.column) for field in fields]
        counts = Counter(scanned=0, rotated=0, raced=0)
        failed = {field.name: [] for field in fields}
        last_pk = None
        while True:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                after = "" if last_pk is None else f"WHERE {pk_column} > %s "
                cursor.execute(
                    f"SELECT {pk_column}, {', '.join(columns)} FROM {table} {after}"  # noqa: S608
                    f"ORDER BY {pk_column} LIMIT %s",
                    ([] if last_pk is None else [last_pk]) + [batch_size],
                )
                rows = cursor.fetchall()
                for row_pk, *tokens in rows:
                    changes = {}
                    for field, column, token in zip(fields, columns, tokens, strict=True):
                        if token is None or crypto.is_under_primary_key(token):
                            continue
                        try:
                            changes[column] = (token, crypto.rotate_token(token))
                        except crypto.DecryptionError:
                            failed[field.name].append(row_pk)
                    if not changes:
                        continue
                    if dry_run:
                        counts["rotated"] += 1
                        continue
                    # Compare-and-set: a value the application rewrote since the SELECT is kept.
                    assignments = ", ".join(f"{column} = %s" for column in changes)
                    unchanged = " AND ".join(f"{column} = %s" for column in changes)
                    cursor.execute(
                        f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s AND {unchanged}",  # noqa: S608
                        [new for _, new in changes.values()] + [row_pk] + [old for old, _ in changes.values()],
                    )
                    counts["rotated" if cursor.rowcount == 1 else "raced"] += 1
            if not rows:
                break
            counts["scanned"] += len(rows)
            last_pk = rows[-1][0]
            if self.verbosity >= 1:
                self.stdout.write(f"{model._meta.label}: {counts['scanned']} rows scanned so far")
        return counts, [(model._meta.label, name, ids) for name, ids in failed.items() if ids]
