"""Models and keys: which providers have a key (never the key), the keyring, LiteLLM's catalog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from workbench.tui.background import in_thread
from workbench.tui.screens.base import SectionScreen

#: Rows shown at once in the catalog; a search narrows it (thousands of rows cost a freeze).
CATALOG_ROWS = 400
SOURCE_MARK = {"keyring": "[green]keyring[/]", "env": "[cyan]environment[/]",
               "none": "[dim]none[/]"}


@dataclass
class KeysLoaded(Message):
    status: Any


@dataclass
class KeyChanged(Message):
    text: str


@dataclass
class CatalogLoaded(Message):
    rows: list[Any]


def price(value: float | None) -> str:
    """`$0.15`, `$0.0375`, `$10.00`, `$0`, or `-` when unknown."""
    from workbench.gateway.pricing import format_price

    return format_price(value, unknown="-")


def context_size(tokens: int | None) -> str:
    if not tokens:
        return "-"
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:g}M"
    if tokens >= 1000:
        return f"{tokens // 1000}k"
    return str(tokens)


class ModelsScreen(SectionScreen):
    SECTION = "models"
    CSS_PATH = Path(__file__).with_name("models.tcss")
    AUTO_FOCUS = "#keys-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "set_key", "Set key", id="models.set_key",
                tooltip="Store the selected provider's API key in the OS keyring"),
        Binding("delete,d", "delete_key", "Delete key", id="models.delete_key",
                tooltip="Remove the selected provider's key from the keyring"),
        Binding("k", "tab('keys')", "Keys", id="models.keys_tab",
                tooltip="Providers and where their keys come from"),
        Binding("c", "tab('catalog')", "Catalog", id="models.catalog_tab",
                tooltip="LiteLLM's model catalog with context sizes and prices"),
        Binding("slash", "search", "Search", id="models.search",
                tooltip="Search the model catalog"),
        Binding("escape", "leave_search", "Catalog", show=False, id="models.leave_search",
                tooltip="Leave the search box for the catalog"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.keys: Any = None
        self.catalog: list[Any] | None = None
        self._catalog_requested = False
        self._debounce: Timer | None = None

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="models-tabs", initial="keys"):
            with TabPane("Keys", id="keys"), Vertical():
                yield Static("", id="keyring-status")
                table: DataTable[Any] = DataTable(id="keys-table", cursor_type="row")
                yield table
                yield Static("Keys are read from the OS keyring first, then from the "
                             "provider's environment variable. They are never shown, stored "
                             "in the database, logged or exported.", classes="hint")
            with TabPane("Catalog", id="catalog"), Vertical():
                yield Input(placeholder="search models, e.g. gpt-4o or anthropic  (/)",
                            id="catalog-search")
                catalog: DataTable[Any] = DataTable(id="catalog-table", cursor_type="row",
                                                    zebra_stripes=True)
                yield catalog
                yield Static("", id="catalog-count", classes="hint")

    def on_mount(self) -> None:
        keys = self.query_one("#keys-table", DataTable)
        for name in ("Provider", "Key", "Environment variable"):
            keys.add_column(name, key=name)
        catalog = self.query_one("#catalog-table", DataTable)
        for name in ("Model", "Provider", "Mode", "Context", "$/1M in", "$/1M out"):
            catalog.add_column(name, key=name)
        keys.loading = True
        self._load_keys()

    # -- keys -----------------------------------------------------------------------------

    def _load_keys(self) -> None:
        in_thread(self, self.wb.services.key_status, done=KeysLoaded, what="reading key status",
                  group="models-keys")

    def on_keys_loaded(self, message: KeysLoaded) -> None:
        from rich.markup import escape

        self.keys = message.status
        table = self.query_one("#keys-table", DataTable)
        table.loading = False
        selected = self._selected_provider()
        table.clear()
        for row in self.keys.rows:
            table.add_row(row.provider, SOURCE_MARK.get(row.source, row.source), row.env_var,
                          key=row.provider)
        if selected is not None:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        status = self.query_one("#keyring-status", Static)
        if self.keys.available:
            status.update(f"Keyring: [b]{escape(self.keys.backend)}[/]  ·  s sets a key, "
                          "d deletes one")
            status.set_classes("")
        else:
            # the help opens with why ("no OS keyring is available ..."): said once, in bold
            why, dot, rest = self.keys.help.partition(". ")
            status.update(f"[b]{escape(why[:1].upper() + why[1:] + dot.strip())}[/] "
                          f"{escape(rest)}")
            status.set_classes("-warning")

    def _selected_provider(self) -> str | None:
        table = self.query_one("#keys-table", DataTable)
        if table.row_count == 0 or table.cursor_row is None:
            return None
        try:
            return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)
        except Exception:
            return None

    def action_set_key(self) -> None:
        if self.keys is not None and not self.keys.available:
            self.notify(self.keys.help, title="No keyring", severity="warning", timeout=12)
            return
        from workbench.tui.screens.modals import KeyModal

        services = self.wb.services

        def entered(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            provider, key = result

            def store() -> str:
                services.set_key(provider, key)
                return f"Stored the key for {provider} in the keyring"

            in_thread(self, store, done=KeyChanged, what=f"storing the key for {provider}",
                      group="models-key-change")

        self.app.push_screen(KeyModal(self._selected_provider() or ""), entered)

    def action_delete_key(self) -> None:
        provider = self._selected_provider()
        if provider is None:
            return
        if self.keys is not None and not self.keys.available:
            self.notify(self.keys.help, title="No keyring", severity="warning", timeout=12)
            return
        from workbench.tui.screens.modals import ConfirmModal

        services = self.wb.services

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return

            def delete() -> str:
                if services.delete_key(provider):
                    return f"Deleted the key for {provider} from the keyring"
                return f"No key for {provider} in the keyring; nothing deleted"

            in_thread(self, delete, done=KeyChanged, what=f"deleting the key for {provider}",
                      group="models-key-change")

        self.app.push_screen(ConfirmModal(f"Delete the key for {provider} from the keyring?",
                                          "Delete"), confirmed)

    def on_key_changed(self, message: KeyChanged) -> None:
        self.notify(message.text, title="Keys")
        self._load_keys()

    # -- catalog --------------------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.query_one("#keys-table" if tab == "keys" else "#catalog-table").focus()

    def action_leave_search(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#catalog-table").focus()

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "catalog" and not self._catalog_requested:
            self._catalog_requested = True
            self.query_one("#catalog-table", DataTable).loading = True
            self.query_one("#catalog-count", Static).update(
                "Loading LiteLLM's model catalog (a few seconds the first time)…")
            in_thread(self, self.wb.services.model_catalog, done=CatalogLoaded,
                      what="loading the model catalog", group="models-catalog")

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        self.catalog = message.rows
        self.query_one("#catalog-table", DataTable).loading = False
        self._show_catalog()

    def _show_catalog(self) -> None:
        if self.catalog is None:
            return
        terms = self.query_one("#catalog-search", Input).value.lower().split()
        rows = [r for r in self.catalog
                if all(t in r.model.lower() or t in r.provider.lower() for t in terms)]
        table = self.query_one("#catalog-table", DataTable)
        table.clear()
        table.add_rows(
            (r.model, r.provider, r.mode, context_size(r.context), price(r.input_per_million),
             price(r.output_per_million))
            for r in rows[:CATALOG_ROWS]
        )
        more = f"; showing the first {CATALOG_ROWS}, search to narrow" if len(
            rows) > CATALOG_ROWS else ""
        self.query_one("#catalog-count", Static).update(
            f"{len(rows):,} of {len(self.catalog):,} models{more}. Prices per million tokens, "
            "from LiteLLM's local price map.")

    @on(Input.Changed, "#catalog-search")
    def _search_changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.25, self._show_catalog)

    def action_search(self) -> None:
        self.action_tab("catalog")
        self.query_one("#catalog-search").focus()
