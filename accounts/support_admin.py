"""The support actions and break-glass request on a user's page in the staff console.

Each action is a page of its own under the user's admin URL (a form, then POST), shown as a button on
the user's page to staff holding its permission; the work is done by accounts/support.py and
accounts/break_glass.py, which check the permission again and write the audit events.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import break_glass, support
from .support import SupportError
from .support_forms import BreakGlassForm, ConfirmForm, DisableAccountForm, MfaResetForm

# (permission, URL name suffix, button label), in the order the user's page shows them.
SUPPORT_ACTIONS = [
    ("accounts.resend_verification", "resend_verification", gettext_lazy("Resend verification email")),
    ("accounts.disable_account", "disable", gettext_lazy("Disable account")),
    ("accounts.reset_mfa", "reset_mfa", gettext_lazy("Reset two-factor authentication")),
    (break_glass.PERMISSION, "break_glass", gettext_lazy("Break-glass access to records")),
]


def _data(request):
    # An empty POST (a form with nothing to fill in) is still a submitted form.
    return request.POST if request.method == "POST" else None


class SupportActionsMixin:
    """For the User admin: the support actions' URLs, pages and buttons."""

    def get_urls(self):
        # Before the admin's own: its `<path:object_id>/` change URL would take these paths.
        # Each action of SUPPORT_ACTIONS: `<user>/reset-mfa/` served by `reset_mfa_view`.
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                f"<path:object_id>/{name.replace('_', '-')}/",
                self.admin_site.admin_view(getattr(self, f"{name}_view")),
                name=f"{prefix}_{name}",
            )
            for _permission, name, _label in SUPPORT_ACTIONS
        ]
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        prefix = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        actions = [
            {"url": reverse(f"{prefix}_{name}", args=[object_id]), "label": label}
            for permission, name, label in SUPPORT_ACTIONS
            if request.user.has_perm(permission)
        ]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "support_actions": actions})

    # -- helpers -------------------------------------------------------------------------------------

    def _subject(self, request, object_id, permission: str):
        if not request.user.has_perm(permission):
            raise PermissionDenied
        user = self.get_object(request, unquote(object_id))
        if user is None:
            raise Http404("No such user")
        return user

    def _back(self, user):
        return redirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[user.pk]))

    def _page(self, request, user, *, form, title: str, intro: str, submit: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": user,
            "title": title,
            "form": form,
            "intro": intro,
            "submit": submit,
        }
        return TemplateResponse(request, "admin/accounts/user/support_action.html", context)

    def _action(self, request, object_id, *, permission: str, form_class, run, success: str, **page):
        """A support action's page: its form, then `run(user, cleaned_data)`; a refusal shows on the form."""
        user = self._subject(request, object_id, permission)
        form = form_class(_data(request))
        if request.method == "POST" and form.is_valid():
            try:
                run(user, form.cleaned_data)
            except SupportError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, success, messages.SUCCESS)
                return self._back(user)
        return self._page(request, user, form=form, **page)

    # -- the actions ---------------------------------------------------------------------------------

    def resend_verification_view(self, request, object_id):
        return self._action(
            request,
            object_id,
            permission="accounts.resend_verification",
            form_class=ConfirmForm,
            run=lambda user, data: support.verification_resend(actor=request.user, user=user, request=request),
            success=_("A verification email was sent to the account's address."),
            title=_("Resend verification email"),
            intro=_("The account's owner gets an email to verify their address. This is recorded in their access log."),
            submit=_("Send"),
        )

    def disable_view(self, request, object_id):
        return self._action(
            request,
            object_id,
            permission="accounts.disable_account",
            form_class=DisableAccountForm,
            run=lambda user, data: support.account_disable(
                actor=request.user, user=user, reason=data["reason"], request=request
            ),
            success=_("The account is disabled and was signed out everywhere."),
            title=_("Disable account"),
            intro=_(
                "The owner can no longer sign in and is signed out everywhere at once; their data stays. "
                "They are told by email, and see this in their access log."
            ),
            submit=_("Disable the account"),
        )

    def reset_mfa_view(self, request, object_id):
        return self._action(
            request,
            object_id,
            permission="accounts.reset_mfa",
            form_class=MfaResetForm,
            run=lambda user, data: support.mfa_reset(
                actor=request.user, user=user, checks=data["checks"], reason=data["reason"], request=request
            ),
            success=_("Two-factor authentication was reset; the owner was signed out and told by email."),
            title=_("Reset two-factor authentication"),
            intro=_(
                "Only after you have checked that the person asking is the account's owner. Their authenticator "
                "app, passkeys and recovery codes are removed, they are signed out everywhere and get a security "
                "email. The checks and your reason go to their access log."
            ),
            submit=_("Reset two-factor authentication"),
        )

    def break_glass_view(self, request, object_id):
        user = self._subject(request, object_id, break_glass.PERMISSION)
        active = break_glass.break_glass_active(staff=request.user, patient=user)
        if active is not None:
            return redirect(reverse("admin:break_glass_records", args=[active.public_id]))
        form = BreakGlassForm(_data(request))
        if request.method == "POST" and form.is_valid():
            try:
                grant = break_glass.break_glass_grant(
                    staff=request.user, patient=user, reason=form.cleaned_data["reason"], request=request
                )
            except SupportError as error:
                form.add_error(None, str(error))
            else:
                return redirect(reverse("admin:break_glass_records", args=[grant.public_id]))
        return self._page(
            request,
            user,
            form=form,
            title=_("Break-glass access to records"),
            intro=ngettext(
                "For an emergency or a request from the patient only. You get read-only access to this patient's "
                "medical records for %(minutes)d minute. The patient is emailed, and every page you open is "
                "recorded in their access log with your reason.",
                "For an emergency or a request from the patient only. You get read-only access to this patient's "
                "medical records for %(minutes)d minutes. The patient is emailed, and every page you open is "
                "recorded in their access log with your reason.",
                settings.BREAK_GLASS_MINUTES,
            )
            % {"minutes": settings.BREAK_GLASS_MINUTES},
            submit=_("Open the records"),
        )


def break_glass_end_view(request, grant):
    """End one's own break-glass access now (POST), back to the patient's page."""
    if request.method != "POST":
        return redirect(reverse("admin:break_glass_records", args=[grant]))
    found = break_glass.break_glass_get_for_staff(staff=request.user, public_id=grant)
    break_glass.break_glass_end(grant=found)
    messages.success(request, _("Your access to this patient's records has ended."))
    return redirect(reverse("admin:accounts_user_change", args=[found.patient.pk]))
