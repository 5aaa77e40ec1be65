from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from accounts import views as account_views

from . import views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("health/", views.health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("waitlist/", include("accounts.waitlist_urls")),
    path("", include("records.urls")),
    path("shared/", include("records.share_urls")),
    path("chat/", include("chat.urls")),
    path("connections/smart-fhir/", include("integrations.providers.smart_fhir.urls")),
    path("connections/withings/", include("integrations.providers.withings.urls")),
    path("connections/oura/", include("integrations.providers.oura.urls")),
    path("connections/", include("integrations.urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
]
