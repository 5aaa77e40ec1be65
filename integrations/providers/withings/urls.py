from django.urls import path

from . import views

app_name = "withings"

urlpatterns = [
    path("connect/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("<uuid:public_id>/sync/", views.sync, name="sync"),
]
