"""Staff see connections and runs as metadata (no tokens, no health data) and can retry a failed run."""

import datetime

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from healthspace.admin_site import StaffPage

from .exceptions import IntegrationError
from .models import Connection, FhirServer, SyncRun
from .services import sync_run_retry
from .sync_health import sync_health


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["public_id", "owner", "provider", "status", "attention_code", "last_sync_at", "next_sync_at"]
    list_filter = ["provider", "status"]
    search_fields = ["owner__email", "provider"]
    list_select_related = ["owner"]
    fields = [
        "public_id",
        "owner",
        "provider",
        "status",
        "attention_code",
        "last_sync_at",
        "next_sync_at",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "owner", "provider", "kind", "outcome", "read", "added", "rejected", "error_code"]
    list_filter = ["outcome", "kind", "connection__provider", "error_code"]
    search_fields = ["owner__email", "error_code"]
    list_select_related = ["owner", "connection"]
    date_hierarchy = "created_at"
    fields = [
        "public_id",
        "owner",
        "connection",
        "kind",
        "outcome",
        "read",
        "added",
        "already_present",
        "rejected",
        "error_code",
        "error_message",
        "attempts",
        "upload_size",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    actions = ["retry"]

    @admin.display(description=_("source"))
    def provider(self, run):
        return run.connection.provider

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Retry the selected failed runs"), permissions=["change"])
    def retry(self, request, queryset):
        retried = 0
        for run in queryset.filter(outcome=SyncRun.Outcome.FAILED):
            try:
                sync_run_retry(run=run)
            except IntegrationError:
                continue
            retried += 1
        self.message_user(request, _("%(count)d run(s) queued again.") % {"count": retried}, messages.SUCCESS)


class FhirServerForm(forms.ModelForm):
    # The stored secret is never shown: staff type a new one to replace it, or leave it blank.
    new_client_secret = forms.CharField(
        label=_("client secret"), required=False, widget=forms.PasswordInput(render_value=False)
    )

    class Meta:
        model = FhirServer
        fields = ["name", "base_url", "client_id", "scopes", "countries", "enabled"]


@admin.register(FhirServer)
class FhirServerAdmin(admin.ModelAdmin):
    form = FhirServerForm
    list_display = ["name", "base_url", "countries", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "base_url"]
    fields = ["name", "base_url", "client_id", "new_client_secret", "scopes", "countries", "enabled"]

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("new_client_secret"):
            obj.client_secret = form.cleaned_data["new_client_secret"]
        super().save_model(request, obj, form, change)


def sync_health_view(request):
    """Failures by provider and reason over 24 hours and 7 days, stuck runs, connections needing attention."""
    stuck_after = datetime.timedelta(minutes=settings.SYNC_STUCK_AFTER_MINUTES)
    context = {
        **admin.site.each_context(request),
        "title": _("Sync health"),
        "stuck_minutes": settings.SYNC_STUCK_AFTER_MINUTES,
        **sync_health(stuck_after=stuck_after),
    }
    return TemplateResponse(request, "admin/integrations/sync_health.html", context)


admin.site.register_page(
    StaffPage(
        route="sync-health/",
        view=sync_health_view,
        name="sync_health",
        title=_("Sync health"),
        permission="integrations.view_syncrun",
    )
)
