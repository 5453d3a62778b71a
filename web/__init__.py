"""The HTTP console: public directory, auditors' log, administrators' quarantine (issue 10)."""

__all__: list[str] = []
