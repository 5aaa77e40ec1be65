"""Forms of the Connections page."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .providers.base import Provider


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"))


def upload_options_form(provider: Provider, *, user, data=None) -> forms.Form | None:
    """The questions a provider asks with an upload (its plug-in's form), or None when it asks none."""
    return provider.upload_form(data, user=user) if provider.upload_form is not None else None
