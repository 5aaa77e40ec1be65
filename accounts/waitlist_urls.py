from django.urls import path

from . import waitlist_views

app_name = "waitlist"

urlpatterns = [
    path("<slug:feature>/", waitlist_views.waitlist, name="feature"),
    path("<slug:feature>/join/", waitlist_views.waitlist_join, name="join"),
    path("<slug:feature>/leave/", waitlist_views.waitlist_leave, name="leave"),
]
