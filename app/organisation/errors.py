from __future__ import annotations

from app.core.errors import NotFound
from app.core.i18n import Text


class BranchNotFound(NotFound):
    slug = "branch-not-found"
    title = Text(de="Standort nicht gefunden", en="Branch not found")
    default_detail = Text(
        de="Einen Standort mit dieser Kennung gibt es nicht.",
        en="There is no branch with this id.",
    )


class DepartmentNotFound(NotFound):
    slug = "department-not-found"
    title = Text(de="Fachbereich nicht gefunden", en="Department not found")
    default_detail = Text(
        de="Einen Fachbereich mit dieser Kennung gibt es nicht.",
        en="There is no department with this id.",
    )
