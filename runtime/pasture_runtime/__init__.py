"""Pasture runtime: the Ollama and OpenAI APIs on vLLM's async engine."""
