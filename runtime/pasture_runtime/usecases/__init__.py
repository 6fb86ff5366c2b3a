"""Use cases between the routers and the engine: one module per job (prepare
a generation, run its stream, embed, show a model, answer the probes). The
routers call these, never the engine (tests/runtime/test_layers.py)."""
