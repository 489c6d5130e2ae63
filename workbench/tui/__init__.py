"""The Textual app: screens, widgets and their .tcss files. Only this package imports textual."""
