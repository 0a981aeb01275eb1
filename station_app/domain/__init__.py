"""Pure-Python domain rules: no Qt, no SQL (enforced by tests/test_layers.py)."""
