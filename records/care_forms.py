"""Forms of the care-habits pages: a dose taken or skipped, a preventive topic done, the habits' period."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .habits import DEFAULT_STEP_THRESHOLD, DEFAULT_WEEKS, STEP_THRESHOLDS, WEEK_CHOICES
from .trends import format_number


class DoseLogForm(forms.Form):
    taken = forms.TypedChoiceField(
        label=_("This dose"),
        choices=[("1", _("Taken")), ("0", _("Skipped"))],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
        initial="1",
    )
    at = forms.DateTimeField(
        label=_("When"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(label=_("Note (optional)"), max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"taken": "1", "at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")})
        super().__init__(*args, **kwargs)


class PreventiveCheckForm(forms.Form):
    done_on = forms.DateField(label=_("Done on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    note = forms.CharField(label=_("Note (optional)"), max_length=500, required=False)

    def clean_done_on(self):
        done_on = self.cleaned_data["done_on"]
        if done_on > timezone.localdate():
            raise forms.ValidationError(_("The date cannot be in the future."))
        return done_on


class HabitsPeriodForm(forms.Form):
    weeks = forms.TypedChoiceField(label=_("Period"), coerce=int, initial=DEFAULT_WEEKS)
    steps = forms.TypedChoiceField(label=_("An active day has at least"), coerce=int, initial=DEFAULT_STEP_THRESHOLD)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per request: the labels are in the language of the request.
        self.fields["weeks"].choices = [(weeks, _("%(weeks)d weeks") % {"weeks": weeks}) for weeks in WEEK_CHOICES]
        self.fields["steps"].choices = [
            (steps, _("%(steps)s steps") % {"steps": format_number(steps, 0)}) for steps in STEP_THRESHOLDS
        ]

    def period(self) -> tuple[int, int]:
        """(weeks, step threshold): the ones asked for when valid, else the defaults."""
        if self.is_bound and self.is_valid():
            return self.cleaned_data["weeks"], self.cleaned_data["steps"]
        return DEFAULT_WEEKS, DEFAULT_STEP_THRESHOLD
