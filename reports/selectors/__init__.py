"""Reads of the reports app, one module per page or report. Queries only."""
