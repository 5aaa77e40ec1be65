from django.urls import path

from integrations.oauth import urlpatterns as oauth_urlpatterns

from . import views
from .flow import SOURCE

app_name = "smart_fhir"

urlpatterns = [path("", views.servers, name="servers"), *oauth_urlpatterns(SOURCE)]
