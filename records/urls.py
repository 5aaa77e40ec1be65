from django.urls import path

from . import views

app_name = "records"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("records/", views.index, name="index"),
]
