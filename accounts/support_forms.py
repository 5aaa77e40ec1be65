"""Forms of the staff console's support actions and break-glass access (accounts/support_admin.py)."""

from django import forms
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .break_glass import REASON_MIN_CHARS as BREAK_GLASS_REASON_MIN_CHARS
from .support import IDENTITY_CHECKS, MFA_RESET_MIN_CHECKS, REASON_MIN_CHARS

REASON_HELP = _("The patient reads this reason in their access log. Never write medical details in it.")


def _reason_field(min_length: int) -> forms.CharField:
    return forms.CharField(
        label=_("Reason"),
        min_length=min_length,
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=REASON_HELP,
    )


class ConfirmForm(forms.Form):
    """An action with nothing to fill in: the button is the confirmation."""


class DisableAccountForm(forms.Form):
    reason = _reason_field(REASON_MIN_CHARS)


class MfaResetForm(forms.Form):
    checks = forms.MultipleChoiceField(
        label=_("Identity checks you did"),
        choices=IDENTITY_CHECKS,
        widget=forms.CheckboxSelectMultiple,
        help_text=lazy(
            lambda: (
                ngettext(
                    "At least %(count)d, done before this reset.",
                    "At least %(count)d, each done before this reset.",
                    MFA_RESET_MIN_CHECKS,
                )
                % {"count": MFA_RESET_MIN_CHECKS}
            ),
            str,
        )(),
    )
    reason = _reason_field(REASON_MIN_CHARS)

    def clean_checks(self):
        checks = self.cleaned_data["checks"]
        if len(checks) < MFA_RESET_MIN_CHECKS:
            raise forms.ValidationError(
                _("Tick at least %(count)d identity checks you did before resetting.") % {"count": MFA_RESET_MIN_CHECKS}
            )
        return checks


class BreakGlassForm(forms.Form):
    reason = _reason_field(BREAK_GLASS_REASON_MIN_CHARS)
    acknowledge = forms.BooleanField(
        label=_("I understand that every page I open is recorded and shown to the patient, with this reason."),
    )
