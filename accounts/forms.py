"""Forms for accounts: the extra sign-up fields, the profile, consents."""

from django import forms
from django.conf import settings
from django.urls import reverse_lazy
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_countries import countries
from django_countries.fields import LazyTypedChoiceField

from . import services
from .models import Profile


def _consent_label():
    return format_html(
        '{} <a href="{}">{}</a> ({})',
        _(
            "I explicitly consent to HealthSpace storing and processing my health data to provide "
            "this service, as described in the"
        ),
        reverse_lazy("accounts:privacy_notice"),
        _("privacy notice"),
        _("version %(version)s") % {"version": settings.PRIVACY_NOTICE_VERSION},
    )


class SignupForm(forms.Form):
    """Fields allauth adds to its sign-up form; `signup` runs once the user exists."""

    # allauth applies this order to the whole form, its own fields included.
    field_order = [
        "email",
        "password1",
        "password2",
        "display_name",
        "country",
        "preferred_language",
        "health_data_consent",
    ]

    display_name = forms.CharField(label=_("Display name"), max_length=80, required=False)
    country = LazyTypedChoiceField(label=_("Country"), choices=countries)
    preferred_language = forms.ChoiceField(label=_("Preferred language"), choices=settings.LANGUAGES)
    health_data_consent = forms.BooleanField(
        label=lazy(_consent_label, SafeString)(),
        required=True,
        error_messages={"required": _("HealthSpace cannot keep health data without your explicit consent.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from django.utils.translation import get_language

        self.fields["preferred_language"].initial = (get_language() or "en")[:2]
        # No country is preselected: it sets the emergency numbers, so the patient picks it.
        self.fields["country"].choices = [("", _("Choose your country")), *countries]

    def signup(self, request, user):
        services.patient_register(
            user=user,
            display_name=self.cleaned_data["display_name"],
            country=self.cleaned_data["country"],
            preferred_language=self.cleaned_data["preferred_language"],
        )


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["display_name", "country", "preferred_language", "date_of_birth", "sex"]
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}


class ConsentForm(forms.Form):
    purpose = forms.CharField(max_length=64)
    granted = forms.BooleanField(required=False)


class ErasureForm(forms.Form):
    """The typed confirmation of an erasure: the account's own email address."""

    confirm_email = forms.CharField(label=_("Type your email address to confirm"), max_length=254)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_confirm_email(self):
        typed = self.cleaned_data["confirm_email"].strip().lower()
        if typed != self.user.email.lower():
            raise forms.ValidationError(_("This is not the email address of your account."))
        return typed


class AccessLogFilterForm(forms.Form):
    """The access log's filters: who, what kind of event, between which days."""

    ACTION_GROUPS = [
        ("", _("Everything")),
        ("account", _("Sign-in and security")),
        ("consent", _("Consents")),
        ("share_link", _("Share links")),
        ("assistant", _("The assistant")),
        ("staff", _("HealthSpace staff")),
        ("privacy", _("Copies, restriction and erasure")),
    ]

    who = forms.ChoiceField(label=_("Who"), required=False)
    what = forms.ChoiceField(label=_("What"), required=False, choices=ACTION_GROUPS)
    since = forms.DateField(
        label=pgettext_lazy("date range", "From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=pgettext_lazy("date range", "To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        from .models import AuditEvent

        super().__init__(*args, **kwargs)
        self.fields["who"].choices = [("", _("Everyone"))] + [
            (value, capfirst(label)) for value, label in AuditEvent.ActorKind.choices
        ]
