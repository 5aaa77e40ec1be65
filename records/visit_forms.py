"""Forms of the symptom journal, visit preparation, share links and the clinician's side of a link."""

import datetime

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .packet import ADD_SECTIONS, MAX_CONCERNS, NOTE_SECTIONS, SECTIONS, item_line, item_note
from .symptoms import duration_parse
from .visits import SHARE_LINK_DAY_CHOICES

LINE_MAX = 1000
TEXT_MAX = 5000


def _datetime_widget():
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class QuickSymptomForm(forms.Form):
    line = forms.CharField(
        label=_("Describe it in a few words"),
        max_length=200,
        help_text=_("For example: “headache 6/10 since 2pm”. You can check the entry before saving it."),
    )


class SymptomForm(forms.Form):
    what = forms.CharField(label=_("Symptom"), max_length=200)
    severity = forms.IntegerField(
        label=_("Severity (0 to 10)"),
        min_value=0,
        max_value=10,
        required=False,
        widget=forms.NumberInput(attrs={"min": 0, "max": 10}),
    )
    onset = forms.DateTimeField(label=_("Started"), widget=_datetime_widget())
    duration = forms.CharField(
        label=_("How long it lasted"),
        max_length=60,
        required=False,
        help_text=_("For example: 2 hours, 30 min, 3 days. Leave empty if it is still going on."),
    )
    notes = forms.CharField(
        label=_("Notes"), max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_onset(self):
        onset = self.cleaned_data["onset"]
        if onset > timezone.now() + datetime.timedelta(minutes=5):
            raise forms.ValidationError(_("A symptom cannot start in the future."))
        return onset

    def clean_duration(self):
        try:
            return duration_parse(self.cleaned_data["duration"])
        except ValueError:
            raise forms.ValidationError(_("Write a duration such as “2 hours”, “30 min” or “3 days”.")) from None


class VisitForm(forms.Form):
    appointment_at = forms.DateTimeField(label=_("Date and time of the appointment"), widget=_datetime_widget())
    clinician = forms.CharField(label=_("Clinician or specialty"), max_length=200)
    reason = forms.CharField(
        label=_("Reason for the visit"), max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class PacketForm(forms.Form):
    """Every item of the packet: shown or not, its line and its note reworded; new lines per section."""

    revision = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, packet: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["revision"].initial = packet.get("revision", 0)
        self.layout = []
        for name, label in SECTIONS:
            rows = []
            for index, item in enumerate(packet.get("sections", {}).get(name, [])):
                prefix = f"{name}-{index}"
                title = item_line(name, item)
                self.fields[f"{prefix}-include"] = forms.BooleanField(
                    label=_("Show"), required=False, initial=item["include"]
                )
                if name != "charts":
                    self.fields[f"{prefix}-text"] = forms.CharField(
                        label=_("Line"), required=False, max_length=LINE_MAX, initial=item["text"] or title
                    )
                if name in NOTE_SECTIONS:
                    note = item["note"] if item["note"] is not None else item_note(name, item)
                    self.fields[f"{prefix}-note"] = forms.CharField(
                        label=_("Note"),
                        required=False,
                        max_length=LINE_MAX,
                        initial=note,
                        widget=forms.TextInput(attrs={"placeholder": _("Note (optional)")}),
                    )
                rows.append((prefix, title))
            if name in ADD_SECTIONS:
                self.fields[f"{name}-add"] = forms.CharField(
                    label=_("Add your own lines (one per line)"),
                    required=False,
                    max_length=TEXT_MAX,
                    widget=forms.Textarea(attrs={"rows": 2}),
                )
            self.layout.append((name, label, rows))

    def sections(self) -> list[dict]:
        """The form's fields grouped by section, for the template."""
        grouped = []
        for name, label, rows in self.layout:
            grouped.append(
                {
                    "name": name,
                    "label": label,
                    "rows": [
                        {
                            "title": title,
                            "include": self[f"{prefix}-include"],
                            "text": self[f"{prefix}-text"] if f"{prefix}-text" in self.fields else None,
                            "note": self[f"{prefix}-note"] if f"{prefix}-note" in self.fields else None,
                        }
                        for prefix, title in rows
                    ],
                    "add": self[f"{name}-add"] if f"{name}-add" in self.fields else None,
                }
            )
        return grouped

    def clean(self):
        cleaned = super().clean()
        concerns = next(rows for name, _label, rows in self.layout if name == "concerns")
        shown = sum(1 for prefix, _title in concerns if cleaned.get(f"{prefix}-include"))
        if shown + len(_lines(cleaned.get("concerns-add", ""))) > MAX_CONCERNS:
            raise forms.ValidationError(_("Keep at most three top concerns: untick or remove the others."))
        return cleaned

    def edits(self) -> dict:
        """The cleaned form as `visits.visit_packet_update` takes it."""
        edits = {}
        for name, _label, rows in self.layout:
            items = [
                {
                    "include": self.cleaned_data.get(f"{prefix}-include", False),
                    "text": self.cleaned_data.get(f"{prefix}-text", ""),
                    "note": self.cleaned_data.get(f"{prefix}-note", ""),
                }
                for prefix, _title in rows
            ]
            edits[name] = {"items": items, "add": _lines(self.cleaned_data.get(f"{name}-add", ""))}
        return edits


class ShareForm(forms.Form):
    days = forms.TypedChoiceField(label=_("Open for"), coerce=int, initial=7)
    with_code = forms.BooleanField(
        label=_("Protect the link with an access code"),
        required=False,
        initial=True,
        help_text=_("Give the code to the clinician separately, for example by telling it at the appointment."),
    )
    language = forms.ChoiceField(label=_("Language of the summary"), choices=settings.LANGUAGES)

    def __init__(self, *args, language: str = "en", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].choices = [
            (days, ngettext("%(count)d day", "%(count)d days", days) % {"count": days})
            for days in SHARE_LINK_DAY_CHOICES
        ]
        self.fields["language"].initial = language


class AccessCodeForm(forms.Form):
    code = forms.CharField(label=_("Access code"), max_length=20, widget=forms.TextInput(attrs={"autocomplete": "off"}))


class ClinicianNoteForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=100)
    role = forms.CharField(label=_("Your role"), max_length=100, help_text=_("For example: general practitioner."))
    text = forms.CharField(
        label=_("Note for the patient"), max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 4})
    )


def _lines_field(label, help_text) -> forms.CharField:
    return forms.CharField(
        label=label, help_text=help_text, required=False, max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )


class AfterVisitForm(forms.Form):
    LIST_FIELDS = ("diagnoses", "started", "stopped", "follow_ups")

    diagnoses = _lines_field(_("Diagnoses mentioned"), _("One per line. Each one is added to your conditions."))
    started = _lines_field(_("Medications started"), _("One per line, with the dose if you know it."))
    stopped = _lines_field(_("Medications stopped"), _("One per line."))
    follow_ups = _lines_field(_("Follow-ups"), _("One per line: tests to do, appointments to book, things to watch."))
    notes = forms.CharField(
        label=_("Other notes"), required=False, max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )

    def lines(self) -> dict:
        """The cleaned form as `visits.visit_after_record` takes it."""
        return {
            **{name: _lines(self.cleaned_data[name]) for name in self.LIST_FIELDS},
            "notes": self.cleaned_data["notes"],
        }

    @classmethod
    def initial_from(cls, visit) -> dict:
        """The form as the patient last filled it for this visit."""
        after = visit.after_visit or {}
        return {
            "diagnoses": "\n".join(after.get("diagnoses", [])),
            "started": "\n".join(after.get("started", [])),
            "stopped": "\n".join(after.get("stopped", [])),
            "follow_ups": "\n".join(entry["text"] for entry in visit.follow_ups or []),
            "notes": after.get("notes", ""),
        }
