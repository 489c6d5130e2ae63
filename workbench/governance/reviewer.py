"""Who a decision is recorded under when no name is given (light: no database imports)."""

from __future__ import annotations

import getpass
import os

from workbench.errors import UserInputError


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def default_reviewer() -> str:
    """WORKBENCH_REVIEWER, else the OS user (people sharing one account set the variable)."""
    return os.environ.get("WORKBENCH_REVIEWER", "").strip() or os_user()


def checked_reviewer(name: str) -> str:
    """A reviewer's name as decisions record it: runs of spaces made one; refused when empty
    (a decision must name who made it) or longer than 64 characters."""
    name = " ".join(name.split())
    if not name:
        raise UserInputError("a reviewer name cannot be empty")
    if len(name) > 64:
        raise UserInputError("a reviewer name is at most 64 characters")
    return name
