"""Who a decision is recorded under when no name is given (light: no database imports)."""

from __future__ import annotations

import getpass
import os


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def default_reviewer() -> str:
    """WORKBENCH_REVIEWER, else the OS user (people sharing one account set the variable)."""
    return os.environ.get("WORKBENCH_REVIEWER", "").strip() or os_user()
