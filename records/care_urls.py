"""The care-habits pages, included in the `records` namespace (consent-gated)."""

from django.urls import path

from . import care_views

urlpatterns = [
    path("care/", care_views.care, name="care"),
    path("care/vaccinations/", care_views.care_vaccinations, name="care_vaccinations"),
    path("care/preventive/", care_views.care_preventive, name="care_preventive"),
    path("care/preventive/<slug:topic>/done/", care_views.care_preventive_done, name="care_preventive_done"),
    path("care/preventive/checks/<uuid:public_id>/delete/", care_views.care_check_delete, name="care_check_delete"),
    path("care/routine/", care_views.care_routine, name="care_routine"),
    path("care/routine/<uuid:public_id>/log/", care_views.care_dose_log, name="care_dose_log"),
    path("care/routine/logs/<uuid:public_id>/delete/", care_views.care_dose_delete, name="care_dose_delete"),
    path("care/habits/", care_views.care_habits, name="care_habits"),
]
