from django.urls import path

from . import privacy_views, views

app_name = "accounts"

urlpatterns = [
    path("account/", views.account, name="account"),
    path("account/profile/", views.profile_edit, name="profile"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/notice/", views.privacy_notice, name="privacy_notice"),
    path("privacy/consents/", views.consents, name="consents"),
    path("privacy/consents/change/", views.consent_change, name="consent_change"),
    path("privacy/access-log/", views.access_log, name="access_log"),
    path("privacy/data/", privacy_views.inventory, name="inventory"),
    path("privacy/export/", privacy_views.exports, name="exports"),
    path("privacy/export/ask/", privacy_views.export_ask, name="export_ask"),
    path("privacy/export/<uuid:public_id>/", privacy_views.export_detail, name="export_detail"),
    path("privacy/export/<uuid:public_id>/status/", privacy_views.export_status, name="export_status"),
    path("privacy/export/<uuid:public_id>/download/", privacy_views.export_download, name="export_download"),
    path("privacy/restriction/", privacy_views.restriction_page, name="restriction"),
    path("privacy/restriction/change/", privacy_views.restriction_change, name="restriction_change"),
    path("privacy/erase/", privacy_views.erasure, name="erasure"),
    path("privacy/erased/", privacy_views.erasure_done, name="erasure_done"),
]
