"""Placeholder: filled in by the optimizer-zoo work (issue 13)."""

__all__: list[str] = []
