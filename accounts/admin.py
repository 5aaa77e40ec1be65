"""Staff see accounts, consents and the audit trail: metadata, never medical content."""

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from allauth.usersessions.models import UserSession
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from waffle.admin import FlagAdmin as WaffleFlagAdmin

from healthspace.admin_site import StaffPage

from .models import AuditEvent, BreakGlassGrant, ConsentEvent, Flag, Profile, User, WaitlistEntry
from .services import audit_record
from .support_admin import SupportActionsMixin, break_glass_end_view


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    # The birth date is encrypted personal data: staff do not see it.
    fields = ["display_name", "country", "preferred_language"]
    readonly_fields = fields


@admin.register(User)
class UserAdmin(SupportActionsMixin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_active", "is_staff", "mfa_enabled", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email"]
    readonly_fields = ["public_id", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "public_id", "password"]}),
        (_("Status"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    inlines = [ProfileInline]

    @admin.display(boolean=True, description=_("MFA"))
    def mfa_enabled(self, obj):
        return is_mfa_enabled(obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        subject = self.get_object(request, object_id)
        if subject is not None:
            audit_record(
                actor_kind=AuditEvent.ActorKind.STAFF,
                actor=request.user,
                subject=subject,
                action="admin.change_user" if request.method == "POST" else "admin.view_user",
                object_type="user",
                object_id=str(subject.public_id),
            )
        return response


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledgers are append-only: staff can read them, nobody can add, change or delete."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "purpose", "action", "notice_version"]
    list_filter = ["purpose", "action", "notice_version"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_kind", "actor", "actor_label", "subject", "action", "object_type", "outcome"]
    list_filter = ["actor_kind", "outcome", "action"]
    search_fields = ["subject__email", "actor__email", "action", "object_id"]
    list_select_related = ["actor", "subject"]
    date_hierarchy = "created_at"


# allauth's own admin for MFA authenticators shows their secrets and deletes them unaudited: staff see
# the list only, and reset MFA through the audited support action on the user's page.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyAdmin):
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ["user", "type", "created_at", "last_used_at"]


# allauth's admin for sessions shows their keys (a signed-in session anyone could reuse) and searches a
# username this User does not have: staff see when and from where, and end sessions by disabling the account.
admin.site.unregister(UserSession)


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    list_display = ["user", "created_at", "last_seen_at", "ip", "user_agent"]
    search_fields = ["user__email", "ip"]
    list_select_related = ["user"]
    fields = ["user", "created_at", "last_seen_at", "ip", "user_agent"]


@admin.register(Flag)
class FlagAdmin(WaffleFlagAdmin):
    """Rollout flags: on or off for everyone, by country, group, user or percentage (see accounts.models.Flag)."""

    list_display = ["name", "everyone", "countries", "percent", "staff", "superusers", "waitlist", "modified", "note"]
    list_filter = ["everyone", "staff", "superusers"]
    fields = ["name", "note", "everyone", "countries", "groups", "users", "percent", "staff", "superusers"]
    filter_horizontal = ["groups"]
    search_fields = ["name", "note"]

    def get_queryset(self, request):
        waiting = (
            WaitlistEntry.objects.filter(feature=OuterRef("name"))
            .order_by()
            .values("feature")
            .annotate(count=Count("id"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(waitlist_count=Coalesce(Subquery(waiting, output_field=IntegerField()), 0))
        )

    @admin.display(description=_("waiting"), ordering="waitlist_count")
    def waitlist(self, flag):
        return flag.waitlist_count


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdmin):
    """Who waits for which gated feature; the filter shows how many wait for each."""

    list_display = ["created_at", "feature", "user"]
    list_filter = ["feature"]
    search_fields = ["user__email", "feature"]
    list_select_related = ["user"]
    show_facets = admin.ShowFacets.ALWAYS


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(ReadOnlyAdmin):
    """Every break-glass access: who, to whose records, why and until when (granted from a user's page)."""

    list_display = ["created_at", "staff", "patient", "expires_at", "ended_at", "reason"]
    search_fields = ["staff__email", "patient__email"]
    list_select_related = ["staff", "patient"]
    date_hierarchy = "created_at"


admin.site.register_page(
    StaffPage(
        route="break-glass/<uuid:grant>/end/",
        view=break_glass_end_view,
        name="break_glass_end",
        title=_("End break-glass access"),
        permission="accounts.break_glass",
        listed=False,
    )
)
