"""Models and keys: which providers have a key (never the key), set or delete keys, and
LiteLLM's model catalog with context sizes and prices."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, LoadingIndicator, Static

from workbench.tui.screens.modals import ConfirmModal, KeyModal


class ModelsScreen(Screen):
    CSS_PATH = "models.tcss"
    BINDINGS = [
        Binding("k", "set_key", "Set key", id="models.set_key"),
        Binding("d", "delete_key", "Delete key", id="models.delete_key"),
        Binding("slash", "search", "Search catalog", id="models.search"),
        Binding("escape", "back", "Back", id="models.back"),
    ]

    class KeysLoaded(Message):
        def __init__(self, rows: list[tuple[str, str, str]], keyring: str) -> None:
            super().__init__()
            self.rows, self.keyring = rows, keyring

    class CatalogLoaded(Message):
        def __init__(self, rows: list[tuple[str, ...]]) -> None:
            super().__init__()
            self.rows = rows

    def __init__(self) -> None:
        super().__init__()
        self.providers: list[str] = []
        self.catalog: list[tuple[str, ...]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="keys-box"):
            yield Label("Providers and keys", classes="section")
            yield Static("", id="keyring")
            yield DataTable(id="keys", cursor_type="row")
        with Vertical(id="catalog-box"):
            yield Label("Model catalog (LiteLLM's local price map)", classes="section")
            yield Input(placeholder="search models  (/)", id="catalog-search")
            yield LoadingIndicator(id="catalog-loading")
            yield DataTable(id="catalog", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "models and keys"
        keys = self.query_one("#keys", DataTable)
        keys.add_columns("Provider", "Key", "Environment variable")
        catalog = self.query_one("#catalog", DataTable)
        catalog.add_columns("Model", "Provider", "Context", "Input $/M", "Output $/M")
        catalog.display = False
        keys.focus()
        self._load_keys()
        self._load_catalog()

    @work(thread=True, exclusive=True, group="keys", exit_on_error=False)
    def _load_keys(self) -> None:
        from workbench.gateway import credentials as cr

        rows = []
        for provider in sorted(cr.ENV_VARS):
            source = cr.key_source(provider)
            rows.append((provider, {"keyring": "✓ in keyring", "env": "✓ from environment"}
                         .get(source or "", "— none"), cr.env_var(provider)))
        keyring = ("keyring: " + cr.keyring_name()) if cr.keyring_available() else \
            ("[yellow]" + cr.no_keyring_help() + "[/]")
        self.post_message(self.KeysLoaded(rows, keyring))

    @on(KeysLoaded)
    def _show_keys(self, message: KeysLoaded) -> None:
        table = self.query_one("#keys", DataTable)
        table.clear()
        table.add_rows(message.rows)
        self.providers = [r[0] for r in message.rows]
        self.query_one("#keyring", Static).update(message.keyring)

    @work(thread=True, exclusive=True, group="catalog", exit_on_error=False)
    def _load_catalog(self) -> None:
        from workbench.gateway.litellm_provider import load_litellm

        litellm = load_litellm()
        rows = []
        for name, info in sorted(litellm.model_cost.items()):
            if name == "sample_spec" or not isinstance(info, dict):
                continue
            context = info.get("max_input_tokens") or info.get("max_tokens")
            rows.append((name, str(info.get("litellm_provider", "?")),
                         f"{context:,}" if isinstance(context, int) else "unknown",
                         _price(info.get("input_cost_per_token")),
                         _price(info.get("output_cost_per_token"))))
        self.post_message(self.CatalogLoaded(rows))

    @on(CatalogLoaded)
    def _show_catalog(self, message: CatalogLoaded) -> None:
        self.catalog = message.rows
        self.query_one("#catalog-loading").display = False
        self.query_one("#catalog", DataTable).display = True
        self._filter_catalog(self.query_one("#catalog-search", Input).value)

    @on(Input.Changed, "#catalog-search")
    def _search(self, event: Input.Changed) -> None:
        self._filter_catalog(event.value)

    def _filter_catalog(self, text: str) -> None:
        needle = text.strip().lower()
        table = self.query_one("#catalog", DataTable)
        table.clear()
        rows = [r for r in self.catalog if needle in r[0].lower() or needle in r[1].lower()]
        table.add_rows(rows[:2000])

    def action_search(self) -> None:
        self.query_one("#catalog-search", Input).focus()

    def _provider(self) -> str | None:
        table = self.query_one("#keys", DataTable)
        if 0 <= table.cursor_row < len(self.providers):
            return self.providers[table.cursor_row]
        return None

    def action_set_key(self) -> None:
        provider = self._provider()
        if provider is None:
            return

        def done(key: str | None) -> None:
            if key:
                self._store_key(provider, key)

        self.app.push_screen(KeyModal(provider), done)

    @work(thread=True, group="keys-write", exit_on_error=False)
    def _store_key(self, provider: str, key: str) -> None:
        from workbench.gateway import credentials as cr

        try:
            cr.set_key(provider, key)
        except cr.NoKeyringBackend:
            self.app.call_from_thread(self.notify, cr.no_keyring_help(provider),
                                      title="no keyring", severity="error", timeout=15)
            return
        self.app.call_from_thread(self.notify, f"key for {provider} saved in the keyring")
        self._load_keys()

    def action_delete_key(self) -> None:
        provider = self._provider()
        if provider is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._delete_key(provider)

        self.app.push_screen(ConfirmModal(f"Delete the key for {provider} from the keyring?"),
                             done)

    @work(thread=True, group="keys-write", exit_on_error=False)
    def _delete_key(self, provider: str) -> None:
        from workbench.gateway import credentials as cr

        try:
            gone = cr.delete_key(provider)
        except cr.NoKeyringBackend:
            self.app.call_from_thread(self.notify, cr.no_keyring_help(provider),
                                      title="no keyring", severity="error", timeout=15)
            return
        self.app.call_from_thread(
            self.notify, f"key for {provider} deleted" if gone else f"no key for {provider}")
        self._load_keys()

    def action_back(self) -> None:
        self.app.pop_screen()


def _price(per_token: Any) -> str:
    if isinstance(per_token, int | float) and not isinstance(per_token, bool):
        return f"{per_token * 1_000_000:.2f}"
    return "unknown"
