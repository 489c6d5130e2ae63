"""Settings: home folder, database URL and policy folder, by flag, env or default."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    """Crews and policies shipped with the package: inside a wheel, or beside a checkout."""
    packaged = PACKAGE_ROOT / "data" / name
    return packaged if packaged.is_dir() else PACKAGE_ROOT.parent / name


SHIPPED_CREWS = _shipped("crews")
SHIPPED_POLICIES = _shipped("policies")

APPROVAL_TIMEOUT_ENV = "WORKBENCH_APPROVAL_TIMEOUT"
DEFAULT_APPROVAL_TIMEOUT_S = 900.0


def positive_seconds(raw: str, source: str, like: int = 900) -> float:
    """Seconds as a finite number above zero; anything else is a UserInputError (exit 2).

    Zero or less would expire every approval request the moment it is made (a reject nobody
    gave), or every tool call before it starts.
    """
    from workbench.errors import UserInputError

    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UserInputError(f"{source} must be a number of seconds above 0 (like {like}), "
                             f"not {raw!r}")
    return value


def inside(folder: Path, *parts: str) -> Path:
    """`folder / parts`, refused (UserInputError) unless it stays strictly inside `folder`.

    Every path made from a name (a crew's, a session's) goes through here, so that a name
    like `../../x` or an absolute one cannot write elsewhere.
    """
    from workbench.errors import UserInputError

    path = folder.joinpath(*parts)
    base = folder.resolve()
    target = path.resolve()
    if target == base or not target.is_relative_to(base):
        raise UserInputError(f"{'/'.join(parts)!r} would lead outside {folder}; use a plain "
                             "file name")
    return path


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("workbench", appauthor=False))


@dataclass
class Settings:
    home: Path = field(
        default_factory=lambda: Path(os.environ.get("WORKBENCH_HOME") or default_home())
    )
    db_url: str | None = field(default_factory=lambda: os.environ.get("WORKBENCH_DB") or None)
    policies: Path | None = field(
        default_factory=lambda: Path(p) if (p := os.environ.get("WORKBENCH_POLICIES")) else None
    )
    #: Pending approvals expire as rejected after this many seconds; None: from the
    #: environment (WORKBENCH_APPROVAL_TIMEOUT), else 900.
    approval_timeout: float | None = None
    #: Record every model exchange (request as sent, answer) with its session; off with
    #: WORKBENCH_RECORD=0 (or false, no, off).
    record: bool = field(default_factory=lambda: os.environ.get(
        "WORKBENCH_RECORD", "1").strip().lower() not in ("0", "false", "no", "off"))

    @classmethod
    def from_args(cls, home: str | None = None, db: str | None = None,
                  policies: str | None = None) -> Settings:
        s = cls()
        if home:
            s.home = Path(home)
        if db:
            s.db_url = db
        if policies:
            s.policies = Path(policies)
        return s

    @property
    def approval_timeout_s(self) -> float:
        """Seconds a pending approval waits; a bad WORKBENCH_APPROVAL_TIMEOUT is bad input.

        Read when an approval can happen, not at start-up, so that a bad value does not
        stop commands that never wait for one.
        """
        if self.approval_timeout is not None:
            return positive_seconds(str(self.approval_timeout), "approval timeout")
        raw = os.environ.get(APPROVAL_TIMEOUT_ENV, "").strip()
        return positive_seconds(raw, APPROVAL_TIMEOUT_ENV) if raw else DEFAULT_APPROVAL_TIMEOUT_S

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home / 'workbench.db'}"

    @property
    def sessions_dir(self) -> Path:
        return self.home / "sessions"

    @property
    def crews_dir(self) -> Path:
        return self.home / "crews"

    def session_dir(self, session_id: str) -> Path:
        """A session's folder (its workspace and outbox live in it), always inside sessions/."""
        return inside(self.sessions_dir, session_id)

    def policy_dir(self) -> Path:
        """--policies / WORKBENCH_POLICIES, else ./policies, else the shipped defaults."""
        if self.policies:
            return self.policies
        from workbench.governance.policy import has_central

        # any spelling the loader reads (central.yml too): else the user's folder would be
        # passed over for the shipped rules without a word
        local = Path.cwd() / "policies"
        if has_central(local):
            return local
        return SHIPPED_POLICIES

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
