"""Tests: the real PostgreSQL and Redis on loopback (make test starts them)."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/orderhub")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# One fixed name, so stale test databases do not pile up; TEST_DB_NAME lets two runs share a machine.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DB_NAME", "test_orderhub")}  # noqa: F405
