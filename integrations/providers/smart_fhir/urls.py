from django.urls import path

from . import views

app_name = "smart_fhir"

urlpatterns = [
    path("", views.servers, name="servers"),
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("<uuid:public_id>/sync/", views.sync, name="sync"),
]
