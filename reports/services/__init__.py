"""Writes of the reports app: only its own rows (figures, reports, settings), one module per concern."""
