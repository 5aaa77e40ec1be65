"""The clinician's pages of a share link: public (the token is the credential), outside the consent gate."""

from django.urls import path

from . import share_views

app_name = "shared"

urlpatterns = [
    path("<str:token>/", share_views.shared_view, name="view"),
    path("<str:token>/note/", share_views.shared_note, name="note"),
    path("<str:token>/summary.json", share_views.shared_fhir, name="fhir"),
]
