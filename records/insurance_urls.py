"""The insurance pages, included in the `records` namespace (consent-gated)."""

from django.urls import path

from . import insurance_views

urlpatterns = [
    path("insurance/", insurance_views.insurance_index, name="insurance"),
    path("insurance/plans/new/", insurance_views.plan_create, name="insurance_plan_create"),
    path("insurance/plans/<uuid:public_id>/", insurance_views.plan_detail, name="insurance_plan"),
    path("insurance/plans/<uuid:public_id>/edit/", insurance_views.plan_edit, name="insurance_plan_edit"),
    path("insurance/plans/<uuid:public_id>/delete/", insurance_views.plan_delete, name="insurance_plan_delete"),
    path("insurance/costs/", insurance_views.cost_list, name="insurance_costs"),
    path("insurance/costs/<uuid:public_id>/", insurance_views.cost_detail, name="insurance_cost"),
    path("insurance/costs/<uuid:public_id>/edit/", insurance_views.cost_edit, name="insurance_cost_edit"),
    path("insurance/compare/", insurance_views.plan_compare, name="insurance_compare"),
]
