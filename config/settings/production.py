"""Production: every secret comes from the environment; missing ones stop start-up with a clear error."""

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

from .base import *  # noqa: F403

SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY.startswith("demo-only") or len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 32 characters in production.")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
env_str("DATABASE_URL")  # required: production never falls back to SQLite
env_str("REDIS_URL")
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":  # noqa: F405
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production.")

STATIC_ROOT = BASE_DIR / "staticfiles"  # noqa: F405
STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"  # noqa: F405
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
LANGUAGE_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "https://localhost")

# HTTPS. The usual install ends TLS at a proxy (nginx, a load balancer) in front of gunicorn: the proxy must set
# X-Forwarded-Proto (overwriting what the client sent), which Django then trusts. Serving gunicorn to clients
# directly? Set BEHIND_TLS_PROXY=false, or any client could claim HTTPS.
if env_bool("BEHIND_TLS_PROXY", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# HSTS as cookiecutter-django starts it: one minute, so a mistake is over quickly; raise SECURE_HSTS_SECONDS
# (e.g. 31536000, a year) once every page works over HTTPS. 0 turns HSTS off.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
