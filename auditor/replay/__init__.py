"""Checkpoint replay: fake quantization, applying it to a model, safe loading, `audit replay`.

Only this package imports torch, and only in the modules that need it (not in `command`).
"""
