"""The staff console: Django admin behind allauth's login, for staff with MFA only."""

from allauth.account.decorators import secure_admin_login
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class StaffAdminSite(admin.AdminSite):
    site_header = gettext_lazy("HealthSpace staff console")
    site_title = gettext_lazy("HealthSpace staff")
    index_title = gettext_lazy("Operations (metadata only, never medical content)")

    def has_permission(self, request):
        return super().has_permission(request) and is_mfa_enabled(request.user)

    def login(self, request, extra_context=None):
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and not is_mfa_enabled(user):
            messages.warning(request, _("Set up two-factor authentication before using the staff console."))
            return redirect("mfa_index")
        return secure_admin_login(super().login)(request, extra_context)
