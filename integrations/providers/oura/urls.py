from integrations.oauth import urlpatterns as oauth_urlpatterns

from .flow import SOURCE

app_name = "oura"

urlpatterns = oauth_urlpatterns(SOURCE)
