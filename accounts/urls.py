from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("account/", views.account, name="account"),
    path("account/profile/", views.profile_edit, name="profile"),
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/notice/", views.privacy_notice, name="privacy_notice"),
    path("privacy/consents/", views.consents, name="consents"),
    path("privacy/consents/change/", views.consent_change, name="consent_change"),
    path("privacy/access-log/", views.access_log, name="access_log"),
]
