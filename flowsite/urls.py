from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Flowsite administration"
admin.site.site_title = "Flowsite"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("flowsite.api_urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
