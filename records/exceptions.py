"""Errors of the records app, in words a patient can read."""


class RecordError(Exception):
    """A record could not be written; the message is safe to show (no medical content)."""


class DocumentRejected(RecordError):
    """An uploaded document is not an accepted type or is too large."""
