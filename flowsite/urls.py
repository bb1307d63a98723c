from django.contrib import admin
from django.urls import include, path

from runs import ops_views

admin.site.site_header = "Flowsite administration"
admin.site.site_title = "Flowsite"

urlpatterns = [
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("flowsite.api_urls")),
    path("", include("dashboard.urls")),
]

handler400 = "dashboard.views.bad_request"
handler404 = "dashboard.views.not_found"
