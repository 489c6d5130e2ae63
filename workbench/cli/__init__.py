"""The command line (`workbench COMMAND ...`), one module per command group."""

from workbench.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
