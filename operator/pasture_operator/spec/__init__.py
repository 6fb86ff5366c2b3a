"""Typed, frozen views of the custom resources' specs, and the value types the pure layers share."""
