from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """People, profiles, consents and the audit trail."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from . import receivers  # noqa: F401  (audit of sign-ins and security changes)
