"""Pasture runtime: the Ollama and OpenAI APIs on vLLM's async engine."""

__version__ = "0.1.0"

# The newest Ollama whose API this server covers (docs/compatibility.md says
# why). Clients gate features on it (one requires >= 0.6.4), so it must be a
# plain dotted-integer version.
OLLAMA_COMPAT_VERSION = "0.14.0"
