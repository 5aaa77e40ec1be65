from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """People, profiles, consents and the audit trail."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import receivers  # noqa: F401  (audit of sign-ins and security changes)
        from .privacy import register_account_categories

        register_account_categories()

        # After every app's migrate: the permissions of apps migrated after accounts exist by then.
        post_migrate.connect(receivers.support_group_ensure, dispatch_uid="support_group_ensure")
