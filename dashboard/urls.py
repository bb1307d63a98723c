from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from . import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.shell, name="dashboard"),
    path("runs/", views.shell),
    path("runs/compare/", views.shell),
    path("runs/<int:run_id>/", views.shell),
    path("pipelines/", views.shell),
    re_path(r"^pipelines/(?P<name>[^/]+)/$", views.shell),
    path("stacks/", views.shell),
    path("notifications/", views.shell),
    path("team/", views.shell),
    path("tokens/", views.shell),
]
