from integrations.oauth import urlpatterns as oauth_urlpatterns

from .flow import SOURCE

app_name = "withings"

urlpatterns = oauth_urlpatterns(SOURCE)
