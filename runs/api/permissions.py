"""Who may do what in a project: viewers read, members also run things, owners also manage people."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from accounts.models import Project, Role, has_role


def project_of(obj: Any) -> Project:
    return obj if isinstance(obj, Project) else obj.project


class ProjectRole(permissions.BasePermission):
    """Reading needs any role; the view's `write_role` (member by default) is needed to change things."""

    message = "your role in this project does not allow this"

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        needed = Role.VIEWER if request.method in permissions.SAFE_METHODS else getattr(view, "write_role", Role.MEMBER)
        return has_role(project_of(obj), request.user, needed)


class StaffCreatesProjects(permissions.BasePermission):
    """Only staff create projects: to anyone else a taken slug would say which projects exist."""

    message = "only staff create projects; ask a staff member to create one and add you to it"

    def has_permission(self, request: Request, view: Any) -> bool:
        return getattr(view, "action", None) != "create" or request.user.is_staff
