"""Staff see accounts, consents and the audit trail: metadata, never medical content."""

from allauth.mfa.utils import is_mfa_enabled
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import AuditEvent, ConsentEvent, Profile, User
from .services import audit_record


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    # The birth date is encrypted personal data: staff do not see it.
    fields = ["display_name", "country", "preferred_language"]
    readonly_fields = fields


@admin.register(User)
class UserAdmin(BaseUserAdmin):
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
