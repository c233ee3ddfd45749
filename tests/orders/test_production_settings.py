"""Production settings pass Django's deployment checklist, and the OpenAPI schema builds without warnings."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "sample-production-secret-key-0123456789-abcdefghijklmnop",
    "DATABASE_URL": "postgres://orderhub:sample@db.example.com:5432/orderhub",
    "REDIS_URL": "redis://redis.example.com:6379/0",
    "ALLOWED_HOSTS": "oms.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://oms.example.com",
}
# Not from the test run: overrides of what is checked, and the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE (conftest).
NO_OVERRIDES = ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_COOKIES", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in NO_OVERRIDES}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_with_production_settings_reports_no_issues():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr


def test_check_deploy_https_settings_come_from_the_environment():
    result = manage("check", "--deploy", **PRODUCTION_ENV, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0")

    assert "security.W008" in result.stderr  # SSL redirect off, as asked
    assert "security.W004" in result.stderr  # HSTS off, as asked


def test_openapi_schema_generates_without_warnings(tmp_path):
    result = manage(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yml"),
        DJANGO_SETTINGS_MODULE="config.settings.test",
    )

    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    assert "RuleKindEnum" in (tmp_path / "schema.yml").read_text()
