"""The staff console: Django admin behind allauth's login, for staff with MFA only.

Apps add pages of their own (the sync-health page, break-glass access) with `admin.site.register_page`
from their admin.py: each is behind the console's own checks (staff, MFA) and one permission.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass

from allauth.account.decorators import secure_admin_login
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


@dataclass(frozen=True)
class StaffPage:
    """A console page that is not a model's: its route under the console, URL name, title and permission."""

    route: str
    view: Callable
    name: str
    title: str | Promise
    permission: str
    # Linked from the console's index (pages about one object are reached from that object instead).
    listed: bool = True


class StaffAdminSite(admin.AdminSite):
    site_header = gettext_lazy("HealthSpace staff console")
    site_title = gettext_lazy("HealthSpace staff")
    index_title = gettext_lazy("Operations (metadata only, never medical content)")
    index_template = "admin/staff_index.html"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[StaffPage] = []

    def register_page(self, page: StaffPage) -> StaffPage:
        """Add a page to the console (from an app's admin.py, before the URLconf is read)."""
        self._pages.append(page)
        return page

    def _guarded(self, page: StaffPage):
        @functools.wraps(page.view)
        def view(request, *args, **kwargs):
            if not request.user.has_perm(page.permission):
                raise PermissionDenied
            return page.view(request, *args, **kwargs)

        return self.admin_view(view)

    def get_urls(self):
        # Before the admin's own patterns: its catch-all app index would take these paths.
        pages = [path(page.route, self._guarded(page), name=page.name) for page in self._pages]
        return pages + super().get_urls()

    def index(self, request, extra_context=None):
        pages = [
            {"title": page.title, "url": reverse(f"{self.name}:{page.name}")}
            for page in self._pages
            if page.listed and request.user.has_perm(page.permission)
        ]
        return super().index(request, {"staff_pages": pages, **(extra_context or {})})

    def has_permission(self, request):
        return super().has_permission(request) and is_mfa_enabled(request.user)

    def login(self, request, extra_context=None):
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff and not is_mfa_enabled(user):
            messages.warning(request, _("Set up two-factor authentication before using the staff console."))
            return redirect("mfa_index")
        return secure_admin_login(super().login)(request, extra_context)
