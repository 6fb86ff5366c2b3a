"""Wire models (pydantic) for the protocols the runtime speaks."""
