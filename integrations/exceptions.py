"""Errors of the integrations app, in words a patient can read."""


class IntegrationError(Exception):
    """A connection or import could not go ahead; the message is safe to show."""


class ProviderError(Exception):
    """A provider's API failed: `permanent` ones need the patient (a revoked token), others are retried."""

    def __init__(self, message: str, *, permanent: bool, code: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
