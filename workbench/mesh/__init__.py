"""The run: normalized events, the event bus, sessions and the capability registry."""
