"""Read-only views of what a session left behind: the crew file it ran, and its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from workbench.tui.background import in_thread
from workbench.tui.screens.modals import Dialog


def file_label(f: Any) -> Text:
    """A file in the list: its folder dimmed, then its path (the size is shown with it)."""
    label = Text()
    label.append(f"{f.folder}/", "dim")
    label.append(f.path)
    return label


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


class Viewer(Dialog):
    """A large read-only dialog; escape (or q) closes it."""

    CSS_PATH = [Path(__file__).with_name("modals.tcss"), Path(__file__).with_name("files.tcss")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", id="viewer.close", priority=True),
        Binding("q", "cancel", "Close", show=False, id="viewer.close_q"),
    ]


class SnapshotModal(Viewer):
    """The crew file exactly as the session ran it (its snapshot), read-only."""

    def __init__(self, session_id: str, view: Any, clock: Any) -> None:
        super().__init__()
        self.session_id = session_id
        self.view = view
        self.clock = clock

    def compose_dialog(self) -> ComposeResult:
        v = self.view
        with Vertical(classes="dialog wide", id="snapshot-dialog"):
            yield Label(f"{v.crew} v{v.version} (of {v.versions}) · as session "
                        f"{self.session_id[:12]} ran it on {self.clock.date_time(v.started_at)}",
                        classes="dialog-title", markup=False)
            yield Static(f"from {v.source_path or '?'} · sha256 {v.digest[:12]} · {v.now}",
                         classes="hint", markup=False, id="snapshot-origin")
            yield TextArea(v.text, read_only=True, show_line_numbers=True, soft_wrap=True,
                           id="snapshot-text")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(TextArea).focus()


@dataclass
class FileRead(Message):
    key: str
    text: str


class FilesModal(Viewer):
    """A session's workspace and outbox: the files on the left, the highlighted one's text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Switch pane", id="files.switch_pane",
                tooltip="Move between the file list and the file's text"),
    ]

    def __init__(self, session_id: str, files: Any, services: Any) -> None:
        super().__init__()
        self.session_id = session_id
        self.files = files
        self.services = services
        self._shown: str | None = None

    def compose_dialog(self) -> ComposeResult:
        from workbench.tui.services import display_path

        files = self.files.files
        with Vertical(classes="dialog wide", id="files-dialog"):
            yield Label(f"Files of session {self.session_id[:12]} "
                        f"({len(files)} file{'' if len(files) == 1 else 's'})",
                        classes="dialog-title", markup=False)
            with Horizontal(id="files-body"):
                options = [Option(file_label(f), id=f"{f.folder}/{f.path}") for f in files]
                listing = OptionList(*options, id="files-list")
                listing.border_title = "Workspace and outbox"
                yield listing
                yield TextArea("", read_only=True, soft_wrap=True, id="files-text")
            yield Static(f"in {display_path(self.files.root)}", classes="hint",
                         markup=False, id="files-where")

    def on_mount(self) -> None:
        super().on_mount()
        area = self.query_one("#files-text", TextArea)
        if not self.files.files:
            area.text = ("This session wrote no files: its workspace and outbox are empty.\n"
                         "Tools such as write_file and send_email put their output here.")
            area.focus()
            return
        listing = self.query_one(OptionList)
        listing.highlighted = 0
        listing.focus()

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        key = event.option.id
        if key is None or key == self._shown:
            return
        folder, _, path = key.partition("/")
        services, sid = self.services, self.session_id

        def read() -> tuple[str, str]:
            return key, services.read_session_file(sid, folder, path)

        in_thread(self, read, done=lambda r: FileRead(*r), what=f"reading {key}",
                  group="files-read")

    def on_file_read(self, message: FileRead) -> None:
        self._shown = message.key
        area = self.query_one("#files-text", TextArea)
        area.border_title = message.key
        size = next((f.size for f in self.files.files if f"{f.folder}/{f.path}" == message.key),
                    None)
        area.border_subtitle = size_text(size) if size is not None else ""
        area.text = message.text
        area.scroll_home(animate=False)
