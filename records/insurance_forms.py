"""Forms of the insurance pages: a plan entered by hand, and the plans to compare."""

import datetime
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from .insurance import HIGH_USE_COSTS, LOW_USE_COSTS, PlanTerms
from .models import Coverage

CURRENCIES = [
    ("", _("My usual currency")),
    ("EUR", _("Euro (EUR)")),
    ("USD", _("US dollar (USD)")),
    ("GBP", _("Pound sterling (GBP)")),
    ("CHF", _("Swiss franc (CHF)")),
    ("CAD", _("Canadian dollar (CAD)")),
]
AMOUNT_FIELDS = ("deductible", "out_of_pocket_max", "premium_monthly", "coinsurance_percent")


def _amount(label, *, help_text="", maximum=None) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=0,
        max_value=maximum,
        max_digits=12,
        decimal_places=2,
        help_text=help_text,
    )


class PlanForm(forms.ModelForm):
    """An insurance plan as the patient reads it on their card and contract; amounts are optional."""

    effective_at = forms.DateField(
        label=_("Valid from"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    deductible = _amount(_("Deductible per year"))
    out_of_pocket_max = _amount(_("Out-of-pocket maximum per year"))
    premium_monthly = _amount(_("Premium per month"))
    coinsurance_percent = _amount(
        _("Co-insurance (%)"), help_text=_("Your share of a bill once the deductible is met."), maximum=100
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCIES, required=False)

    class Meta:
        model = Coverage
        fields = Coverage.source_fields
        widgets = {"ends_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        help_texts = {
            "coverage_type": _("For example: health insurance, complementary cover, dental."),
            "payer": _("You, or who holds the policy (an employer, a family member)."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].required = False
        if self.instance.effective_at:
            self.initial["effective_at"] = self.instance.effective_at.date()

    def clean_effective_at(self):
        day = self.cleaned_data.get("effective_at")
        return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC) if day else None

    def clean(self):
        cleaned = super().clean()
        for name in AMOUNT_FIELDS:
            value = cleaned.get(name)
            cleaned[name] = "" if value is None else format(value.normalize(), "f")
        cleaned["status"] = cleaned.get("status") or "active"
        return cleaned


class PlanTermsForm(forms.Form):
    """One plan to compare: what its contract says."""

    name = forms.CharField(label=_("Plan"), max_length=100)
    premium_monthly = _amount(_("Premium per month"))
    deductible = _amount(_("Deductible per year"))
    coinsurance_percent = _amount(_("Co-insurance (%)"), maximum=100)
    out_of_pocket_max = _amount(_("Out-of-pocket maximum per year"))

    def terms(self) -> PlanTerms:
        data = self.cleaned_data
        return PlanTerms(
            name=data["name"],
            premium_monthly=data["premium_monthly"] or Decimal(0),
            deductible=data["deductible"] or Decimal(0),
            coinsurance_percent=data["coinsurance_percent"] or Decimal(0),
            out_of_pocket_max=data["out_of_pocket_max"],
        )


class _PlanTermsFormSet(forms.BaseFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if len(self.filled()) < 2:
            raise forms.ValidationError(_("Enter at least two plans to compare."))

    def filled(self) -> list[PlanTermsForm]:
        """The rows the patient filled in (a blank row is left out, not refused)."""
        return [form for form in self.forms if form.has_changed() and getattr(form, "cleaned_data", None)]


PlanTermsFormSet = forms.formset_factory(PlanTermsForm, formset=_PlanTermsFormSet, extra=0, max_num=6, absolute_max=6)


class ScenarioForm(forms.Form):
    """The currency of the comparison, and the low-use and high-use years the plans are also compared on
    (their care costs before insurance)."""

    currency = forms.ChoiceField(label=_("Currency of the comparison"), choices=CURRENCIES[1:])

    low_use = forms.DecimalField(
        label=_("Care costs in a low-use year"), min_value=0, max_digits=12, decimal_places=2, initial=LOW_USE_COSTS
    )
    high_use = forms.DecimalField(
        label=_("Care costs in a high-use year"), min_value=0, max_digits=12, decimal_places=2, initial=HIGH_USE_COSTS
    )
