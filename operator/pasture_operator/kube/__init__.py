"""The thin I/O layer: server-side apply, status writes, events (official client)."""
