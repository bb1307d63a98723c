from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Flowsite administration"
admin.site.site_title = "Flowsite"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("flowsite.api_urls")),
    path("", include("dashboard.urls")),
]

handler404 = "dashboard.views.not_found"
