from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Connections to outside sources, one plug-in per provider, and their sync runs."""

    name = "integrations"
    verbose_name = "Integrations"
