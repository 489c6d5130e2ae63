"""Moved to `workbench/mesh/history.py`; kept so older imports still work."""

from workbench.mesh.history import PromptDigests, prompt_digest

__all__ = ["PromptDigests", "prompt_digest"]
