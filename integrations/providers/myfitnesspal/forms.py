"""What the MyFitnessPal upload asks the patient: the weight unit, for a file that does not say."""

from django import forms
from django.utils.translation import gettext_lazy as _

# Countries where scales and MyFitnessPal accounts show pounds by default.
POUND_COUNTRIES = {"US"}


def default_weight_unit(user) -> str:
    """Pounds for a patient in the United States, else kilograms."""
    profile = getattr(user, "profile", None)
    country = str(profile.country).upper() if profile is not None and profile.country else ""
    return "lb" if country in POUND_COUNTRIES else "kg"


class UploadOptionsForm(forms.Form):
    weight_unit = forms.ChoiceField(
        label=_("Weight unit"),
        choices=[("kg", _("kilograms (kg)")), ("lb", _("pounds (lb)"))],
        help_text=_("Used only when a measurement file does not say whether weights are in kilograms or pounds."),
        # A post without it (an older page, a script) gets the patient's usual unit.
        required=False,
    )

    def __init__(self, data=None, *, user, **kwargs):
        self.default_unit = default_weight_unit(user)
        kwargs.setdefault("initial", {"weight_unit": self.default_unit})
        # Each upload card has its own ids; the field names stay what the upload view reads.
        kwargs.setdefault("auto_id", "id_myfitnesspal_%s")
        super().__init__(data, **kwargs)

    def clean_weight_unit(self) -> str:
        return self.cleaned_data["weight_unit"] or self.default_unit
