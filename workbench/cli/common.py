"""What every command group shares: the parser class, settings and store, tables, exit codes."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.errors import UserInputError

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.store.db import Store

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments as one line with exit code 2, like every input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserInputError(f"{self.prog}: {message} (see --help)")


def actions(parser: argparse.ArgumentParser) -> Any:
    """The required ACTION subcommands of a command group (`sessions list`, `keys set`)."""
    return parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                 parser_class=Parser)


def engine_options(parser: argparse.ArgumentParser) -> None:
    """`--engine` and `--topology`, offering what the engine registry holds."""
    from workbench.engines import engine_choices
    from workbench.spec.shape import TOPOLOGY_KINDS

    # the metavar spares reading the installed engines until a value or this help needs them
    parser.add_argument("--engine", choices=engine_choices(), metavar="ENGINE",
                        help="instead of the crew's engine: one of %(choices)s")
    parser.add_argument("--topology", choices=TOPOLOGY_KINDS,
                        help="instead of the crew's topology (each engine offers some)")


def settings(args: argparse.Namespace) -> Settings:
    """The settings the global options ask for; library warnings go to the home's log."""
    from workbench.config import Settings
    from workbench.logs import log_to_file

    result = Settings.from_args(args.home, args.db, args.policies)
    log_to_file(result)
    from workbench.spec.registry import use_settings

    use_settings(result)  # a crew's `use:` agents are found with these (home, team store)
    return result


def open_store(settings: Settings, read_only: bool = False) -> Store:
    """The store; `read_only` for commands that only read, so they work on a read-only home."""
    from workbench.store.db import Store

    if read_only:
        return Store.for_reading(settings.database_url)
    settings.ensure_home()
    return Store(settings.database_url)


def store_for(args: argparse.Namespace, read_only: bool = False) -> Store:
    """The store of the settings the global options ask for."""
    return open_store(settings(args), read_only)


def resolve_crew(name: str, settings: Settings) -> Path:
    """A crew by path, or by name in ./crews, the home's crews folder, or the shipped crews."""
    from workbench.crews import find_crew

    return find_crew(name, settings)


def print_table(rows: list[list[str]], headers: list[str]) -> None:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def warn(lines: list[str]) -> None:
    """Each line as `workbench: warning: ...` on stderr."""
    for line in lines:
        print(f"workbench: warning: {line}", file=sys.stderr)


def guarded(call: Callable[[], int]) -> int:
    """Run a command line and turn what it raises into one line on stderr and an exit code:
    bad input 2, a failure 1, Ctrl-C 130; never a traceback (unless WORKBENCH_DEBUG)."""
    from workbench.errors import WorkbenchError

    try:
        return call()
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_CANCELLED
    except BrokenPipeError:
        return EXIT_OK
    except (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
            PermissionError) as exc:
        # a path the user gave (--home, --db, -o) that cannot be used
        where = f" {exc.filename}" if exc.filename else ""
        print(f"workbench: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        if exc.errno not in (errno.ENAMETOOLONG, errno.ELOOP):
            return _internal(exc)
        # a path the user gave that the file system cannot even look up
        name = str(exc.filename or "")
        where = f" {name[:60]}…" if len(name) > 60 else f" {name}" if name else ""
        print(f"workbench: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        return _internal(exc)


def _internal(exc: Exception) -> int:
    """An error that is no user's mistake: one line, exit 1 (raised under WORKBENCH_DEBUG)."""
    import os

    if os.environ.get("WORKBENCH_DEBUG"):
        raise exc
    print(f"workbench: internal error: {type(exc).__name__}: {exc} "
          "(set WORKBENCH_DEBUG=1 to see the traceback)", file=sys.stderr)
    return EXIT_FAILED


T = TypeVar("T")


async def until_done(work: Awaitable[T], cancel: Callable[[], None],
                     notice: str | None = None) -> T:
    """Await `work` with Ctrl-C (and SIGTERM) calling `cancel`; a second Ctrl-C exits."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    interrupted = False

    def stop() -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        if notice:
            print(notice, file=sys.stderr, flush=True)
        cancel()

    # a closed terminal (SIGHUP) stops the run like SIGTERM: stored as cancelled, not left
    # running until another command finds its process gone
    signals = [signal.SIGINT, signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP")
                                                 else [])]
    for sig in signals:
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or a platform without it: Ctrl-C still interrupts
    try:
        return await work
    finally:
        for sig in signals:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
