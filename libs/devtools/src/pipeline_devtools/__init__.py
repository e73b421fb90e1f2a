"""Development, benchmark and operator tools; services never import this package (tests/unit/test_layout.py)."""
