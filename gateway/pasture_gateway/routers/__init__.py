"""Thin HTTP handlers: read the request, call a use case, write the answer."""
