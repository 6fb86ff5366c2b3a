"""Pure translation between Ollama requests/responses and engine terms (no I/O)."""
