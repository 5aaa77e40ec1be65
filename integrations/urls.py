from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/upload/", views.upload, name="upload"),
    path("<slug:slug>/webhook-setup/", views.webhook_setup, name="webhook_setup"),
    path("webhooks/<slug:slug>/<uuid:public_id>/", views.webhook, name="webhook"),
    path("runs/<uuid:public_id>/", views.run_detail, name="run"),
    path("runs/<uuid:public_id>/status/", views.run_status, name="run_status"),
    path("runs/<uuid:public_id>/use-profile/", views.profile_hint_apply, name="profile_hint_apply"),
    path("<uuid:public_id>/", views.connection_detail, name="connection"),
    path("<uuid:public_id>/disconnect/", views.disconnect, name="disconnect"),
    path("<uuid:public_id>/delete-data/", views.source_data_delete, name="delete_data"),
]
