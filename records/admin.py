"""Records have no model admin (medical content): only the break-glass page reads them, under a grant."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from healthspace.admin_site import StaffPage

from .staff_views import break_glass_records

admin.site.register_page(
    StaffPage(
        route="break-glass/<uuid:grant>/",
        view=break_glass_records,
        name="break_glass_records",
        title=_("Break-glass access"),
        permission="accounts.break_glass",
        listed=False,
    )
)
