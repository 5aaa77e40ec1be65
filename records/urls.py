from django.urls import include, path, register_converter

from . import views
from .selectors import RECORD_KINDS


class KindConverter:
    regex = "|".join(RECORD_KINDS)

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(KindConverter, "kind")

app_name = "records"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("", include("records.visit_urls")),
    path("", include("records.insurance_urls")),
    path("", include("records.care_urls")),
    path("records/", views.index, name="index"),
    path("records/timeline/", views.timeline, name="timeline"),
    path("records/lab-tests/", views.lab_tests, name="lab_tests"),
    path("records/lab-tests/<str:test_key>/", views.lab_test, name="lab_test"),
    path("records/documents/upload/", views.document_upload, name="document_upload"),
    path("records/documents/<uuid:public_id>/download/", views.document_download, name="document_download"),
    path("records/fhir/import/", views.fhir_upload, name="fhir_upload"),
    path("records/fhir/export/", views.fhir_download, name="fhir_download"),
    path("records/<kind:kind>/", views.record_list, name="list"),
    path("records/<kind:kind>/new/", views.record_create, name="create"),
    path("records/<kind:kind>/<uuid:public_id>/", views.record_detail, name="detail"),
    path("records/<kind:kind>/<uuid:public_id>/edit/", views.record_edit, name="edit"),
    path("records/<kind:kind>/<uuid:public_id>/delete/", views.record_delete, name="delete"),
]
