from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """Encrypted clinical records, the time-series store, FHIR in and out, dashboards."""

    name = "records"
    verbose_name = "Records"

    def ready(self):
        from . import privacy

        privacy.register()  # its categories of personal data, for the privacy centre
