"""Workbench: governed multi-agent crews in the terminal."""
