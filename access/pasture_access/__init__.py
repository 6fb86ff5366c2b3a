"""What the gateway and the runtime share about who may call them: the key
file format, the identities it holds, and Ollama's model-name rules that
scopes and model globs are matched with. Pure (no web framework, no I/O but
reading the key file); runtime, operator and gateway stay independent of each
other and may all import this."""
