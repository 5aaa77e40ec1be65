from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Connections to outside sources, one plug-in per provider, and their sync runs."""

    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        from accounts.rollout import Feature, feature_register

        from . import privacy
        from .providers.base import providers

        privacy.register()  # its categories of personal data and the sources' consents, for the privacy centre

        # Sources behind a rollout flag get a waitlist page; once open, they are on the Connections page.
        for provider in providers().values():
            if provider.feature:
                feature_register(
                    Feature(
                        flag=provider.feature,
                        name=provider.name,
                        description=provider.description,
                        url_name="integrations:index",
                    )
                )
