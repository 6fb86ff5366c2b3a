"""Pasture's gateway: one Ollama and OpenAI endpoint for every model in the cluster."""

__version__ = "0.1.0"
# The Ollama version the gateway reports (the runtime's compatibility level).
OLLAMA_COMPAT_VERSION = "0.14.0"  # as the runtime: docs/compatibility.md
