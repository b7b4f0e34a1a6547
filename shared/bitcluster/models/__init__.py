"""Torch models (training side only; the consumer never imports this package)."""
