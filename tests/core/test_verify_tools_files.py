"""The file tools never reach outside the workspace through a symbolic link: a dangling link
to an outside path, a linked folder, a link to a link, a `..` link inside a subfolder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.tools import ToolContext, ToolError, default_registry


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "ws" / "sub").mkdir(parents=True)
    return ToolContext("s1", tmp_path / "ws", tmp_path / "outbox")


@pytest.mark.parametrize("path", ["dangling", "linked/new.txt", "chain", "sub/up/secret.txt"])
async def test_write_file_never_creates_or_changes_a_file_outside(ctx: ToolContext,
                                                                  tmp_path: Path,
                                                                  path: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "secret.txt").write_text("s3cret")
    ws = ctx.workspace
    os.symlink(outside / "created.txt", ws / "dangling")  # its target does not exist yet
    os.symlink(outside, ws / "linked")
    os.symlink("dangling", ws / "chain")
    os.symlink("../..", ws / "sub" / "up")
    reg = default_registry()
    with pytest.raises(ToolError, match="outside the session workspace"):
        await reg.get("write_file").invoke(ctx, {"path": path, "content": "owned"})
    with pytest.raises(ToolError, match="outside the session workspace|no such file"):
        await reg.get("read_file").invoke(ctx, {"path": path})
    assert list(outside.iterdir()) == []
    assert (tmp_path / "secret.txt").read_text() == "s3cret"
