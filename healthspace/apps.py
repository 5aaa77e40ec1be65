from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class HealthspaceConfig(AppConfig):
    """The project core: encryption, system checks, health endpoint, shared middleware."""

    name = "healthspace"
    verbose_name = "HealthSpace core"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)


class StaffAdminConfig(admin_apps.AdminConfig):
    """Django admin, served by the staff console site (allauth login, MFA required)."""

    default = False
    default_site = "healthspace.admin_site.StaffAdminSite"
