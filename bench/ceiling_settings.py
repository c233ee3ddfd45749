"""Bench only (bench/ingest.py's ceiling): the production settings, plus one view that does what every API POST
does before the order service runs (token authentication, the permission check, JSON parsing) and answers 201
with JSON, writing nothing. Never referenced by config/: the shipped urlconf does not have this view."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.ceiling_urls"
