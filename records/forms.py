"""Forms for manual records, the patient's annotations, documents and FHIR files."""

from django import forms
from django.forms import modelform_factory
from django.utils.translation import gettext_lazy as _

from healthspace.crypto import EncryptedDateField, EncryptedJSONField

from .models import ClinicalRecord

ANNOTATION_FIELDS = ("patient_note", "disputed")


def _widget_for(field):
    if field.name == "effective_at":
        return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    if isinstance(field, EncryptedDateField):
        return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    if field.name == "patient_note":
        return forms.Textarea(attrs={"rows": 3})
    return None


def record_form_class(model: type[ClinicalRecord], *, manual: bool) -> type[forms.ModelForm]:
    """A form for a record: every field the patient may set on a manual one, else the annotation."""
    names = list(ANNOTATION_FIELDS)
    if manual:
        entered = [
            name for name in model.source_fields if not isinstance(model._meta.get_field(name), EncryptedJSONField)
        ]
        names = entered + names
    widgets = {name: widget for name in names if (widget := _widget_for(model._meta.get_field(name)))}
    form_class = modelform_factory(model, fields=names, widgets=widgets)
    if "effective_at" in form_class.base_fields:
        form_class.base_fields["effective_at"].required = True
    return form_class


class DocumentUploadForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=300, required=False)
    file = forms.FileField(label=_("File (PDF, PNG or JPEG, up to 20 MB)"))
    effective_at = forms.DateField(
        label=_("Date of the document"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class FhirUploadForm(forms.Form):
    file = forms.FileField(label=_("FHIR file (JSON Bundle, NDJSON or one resource)"))
