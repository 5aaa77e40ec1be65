"""The patient's visit and symptom-journal pages, included in the `records` namespace (consent-gated)."""

from django.urls import path

from . import visit_views

urlpatterns = [
    path("records/journal/", visit_views.symptom_journal, name="symptom_journal"),
    path("visits/", visit_views.visit_list, name="visit_list"),
    path("visits/new/", visit_views.visit_create, name="visit_create"),
    path("visits/links/<uuid:public_id>/revoke/", visit_views.share_link_revoke, name="share_link_revoke"),
    path("visits/<uuid:public_id>/", visit_views.visit_detail, name="visit_detail"),
    path("visits/<uuid:public_id>/edit/", visit_views.visit_edit, name="visit_edit"),
    path("visits/<uuid:public_id>/refresh/", visit_views.visit_refresh, name="visit_refresh"),
    path("visits/<uuid:public_id>/print/", visit_views.visit_print, name="visit_print"),
    path("visits/<uuid:public_id>/summary.json", visit_views.visit_fhir, name="visit_fhir"),
    path("visits/<uuid:public_id>/share/", visit_views.visit_share, name="visit_share"),
    path("visits/<uuid:public_id>/after/", visit_views.visit_after, name="visit_after"),
    path("visits/<uuid:public_id>/follow-ups/", visit_views.visit_follow_up, name="visit_follow_up"),
    path("visits/<uuid:public_id>/delete/", visit_views.visit_delete, name="visit_delete"),
]
