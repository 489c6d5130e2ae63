"""Errors a user can cause: typed, with a message to act on, shown without a traceback."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every error the command line and the TUI show as one clear line."""

    exit_code = 1


class UserInputError(WorkbenchError):
    """Bad input: a crew, policy or argument problem (exit code 2)."""

    exit_code = 2


class SpecError(UserInputError):
    """A crew file problem, located as file:line."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.problem = message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(f"{where}{message}")


class ProviderError(WorkbenchError):
    """A model provider failed; names the provider and what to do."""

    def __init__(self, provider: str, message: str, hint: str = "") -> None:
        self.provider = provider
        self.hint = hint
        text = f"provider {provider}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
