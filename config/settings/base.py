"""Settings shared by every environment. Environment is read through config.env only."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("SECRET_KEY", "demo-only-insecure-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS = [
    "django_fsm",
    "config.apps.JobQueuesConfig",  # django_rq, named in Chinese
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
]
LOCAL_APPS = [
    "orders",
    "rules",
    "warehouse",
    "logistics",
    "reports",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChineseFirstLocaleMiddleware",
    "config.middleware.RejectNulBytesMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # the transaction boundary is the service
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded demo serves several threads and a worker on one file. WAL lets readers run beside the
    # writer; IMMEDIATE takes the write lock when a transaction starts, so a transaction that read first
    # never fails to upgrade its lock ("database is locked") but waits up to `timeout` seconds for its turn.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT_SECONDS", 20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "orderhub",
    }
}

# Jobs: RQ through django-rq. RQ_INLINE=true runs jobs in the calling process (no worker needed).
RQ_INLINE = env_bool("RQ_INLINE", False)
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600, "ASYNC": not RQ_INLINE}
    for name in ("default", "channels", "carriers", "notifications", "imports")
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = None  # production sets it; collectstatic writes there
# Pinned npm libraries (ECharts), copied here by `make static-vendor` from node_modules: nothing from a CDN.
STATICFILES_DIRS = [BASE_DIR / "vendor" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "admin:login"
# Password guessing on the admin login (django-axes): after AXES_FAILURE_LIMIT wrong passwords in a row for one
# username from one address, that pair is locked out for the cool-off time, even with the right password.
# Unlock: admin → Axes → Access attempts (delete the row), or `manage.py axes_reset_username <username>`.
# API tokens never pass through authenticate(), so they are not counted or locked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "config.auth_backends.OneQueryModelBackend",  # same answers as ModelBackend, one query
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.security.client_ip"
AXES_LOCKOUT_CALLABLE = "config.security.login_lockout_response"
# Messages live in the session, not in a cookie: a generated carrier secret is shown once in one of them.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OrderHub 订单协同中枢 API",
    "DESCRIPTION": "Orders from every channel in one place: create, find, trace and move orders.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The channel webhook is a plain Django view (benchmarked): its operation is added by this hook.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orders.api_channels.webhook_openapi",
    ],
    # Several models have a `kind` with their own choices: name each enum after its model, so the names are
    # stable and never collide (drf_spectacular.W001).
    "ENUM_NAME_OVERRIDES": {
        "RuleKindEnum": "rules.models.Rule.Kind",
        "ChannelKindEnum": "orders.models.Channel.Kind",
        "OrderEventKindEnum": "orders.models.OrderEvent.Kind",
        "AlertKindEnum": "orders.models.Alert.Kind",
        "StockReservationKindEnum": "warehouse.models.StockReservation.Kind",
        "StockMovementKindEnum": "warehouse.models.StockMovement.Kind",
        "BreakerEventKindEnum": "warehouse.models.BreakerEvent.Kind",
    },
}

# Order intake
ORDER_NUMBER_PREFIX = "OH"

# Customer tracking page (/track/)
ORDERHUB_SUPPORT_CONTACT = env_str("ORDERHUB_SUPPORT_CONTACT", "客服热线 400-000-0000")
# The request header (as in request.META) that carries the client's IP when a proxy we run sets it, for the tracking
# page's rate limits and the admin login lockout, e.g. HTTP_X_REAL_IP behind nginx. Empty: REMOTE_ADDR. Never name
# a header clients can set themselves.
ORDERHUB_CLIENT_IP_HEADER = env_str("ORDERHUB_CLIENT_IP_HEADER", "")
# Lookups on /track/: at most this many per window, per client IP and per looked-up number.
ORDERHUB_TRACK_ATTEMPTS = env_int("ORDERHUB_TRACK_ATTEMPTS", 10)
ORDERHUB_TRACK_WINDOW_SECONDS = env_int("ORDERHUB_TRACK_WINDOW_SECONDS", 600)

# Fulfilment certificate PDF: a TrueType CJK font that reportlab embeds (subset) in every certificate, so it
# renders on machines without Chinese fonts. Debian package fonts-wqy-zenhei (installed by .ci/services.sh).
ORDERHUB_PDF_FONT = env_str("ORDERHUB_PDF_FONT", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Static files are served by WhiteNoise; outside production it finds them in the apps directly.
WHITENOISE_USE_FINDERS = True

# Where carriers reach us (push callbacks); the address customers and carriers see.
ORDERHUB_PUBLIC_URL = env_str("ORDERHUB_PUBLIC_URL", "http://127.0.0.1:8000")
# Carriers: seconds to wait for a tracking provider before the poll counts as failed (retried with backoff).
CARRIER_HTTP_TIMEOUT_SECONDS = 10
# Waybills: an unused waybill still waiting for its cancel this many minutes after it was retired gets its cancel
# job again (the job's own retries take about 7 minutes; the job may have been lost with Redis) ...
WAYBILL_CANCEL_REQUEUE_MINUTES = 10
# ... and after this many it is given up on: marked cancel_failed with an alert for a person.
WAYBILL_CANCEL_GIVE_UP_MINUTES = 30

# The outbox (ERP pushes, ship confirmations to the channel): rows claimed per batch, the backoff of a failed
# delivery (doubling from OUTBOX_BACKOFF_SECONDS up to the max, with ±50 % jitter; a receiver saying "too frequent"
# waits at least OUTBOX_THROTTLED_SECONDS), how long a process keeps its list of active ERP endpoints (the paid
# path reads it on every order; saving an endpoint refreshes it at once in that process) ...
OUTBOX_BATCH_SIZE = 100
OUTBOX_BACKOFF_SECONDS = 10
OUTBOX_BACKOFF_MAX_SECONDS = 3600
OUTBOX_THROTTLED_SECONDS = 60
ERP_ENDPOINTS_CACHE_SECONDS = 10
# How long a process keeps the duplicate-check settings row (read for every new order; saving it refreshes it at
# once in that process, the others within this time).
DUPLICATE_SETTINGS_CACHE_SECONDS = 10
# ... and how long before an order's platform ship-by deadline a missing ship confirmation alerts customer service.
SHIP_CONFIRM_WARN_HOURS = 2
# Channel pulls (orders.services.channel_pulls): seconds to wait for a platform; the backoff after a failed run
# (doubling from the base, with jitter, up to the cap); an alert after this many failed runs in a row; at most
# this many windows per run (a channel far behind catches up over the next runs, each under the job timeout).
CHANNEL_PULL_HTTP_TIMEOUT_SECONDS = env_int("CHANNEL_PULL_HTTP_TIMEOUT_SECONDS", 15)
CHANNEL_PULL_BACKOFF_BASE_SECONDS = 60
CHANNEL_PULL_BACKOFF_CAP_SECONDS = 3600
CHANNEL_PULL_ALERT_AFTER_FAILURES = 3
CHANNEL_PULL_MAX_WINDOWS_PER_RUN = 24
# A run holds its channel's (or backfill's) lock this long past its last page; a killed run's lock lapses then.
CHANNEL_PULL_LOCK_SECONDS = env_int("CHANNEL_PULL_LOCK_SECONDS", 60)

# Notifications (orders.services.notify*): email through Django mail with these; the backoff of a failed message
# (doubling from the base up to the cap, ±25 % jitter; a channel's max attempts make it dead); customer notice
# "正在智能分仓中" after this many minutes in allocating.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "OrderHub <orderhub@localhost>")
NOTIFY_BACKOFF_SECONDS = 30
NOTIFY_BACKOFF_MAX_SECONDS = 3600
ALLOCATION_NOTICE_MINUTES = 30
# How long a process keeps the nodes that notify customers and the SMS channel (read on every transition).
NOTIFY_CONFIG_CACHE_SECONDS = 10

# Excel history import (orders.imports): upload guards, batch sizes.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 50 * 1024 * 1024)
IMPORT_MAX_ZIP_ENTRIES = 2000
IMPORT_MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
IMPORT_MAX_ZIP_RATIO = 100  # unpacked : packed, per file and per large entry
IMPORT_BATCH_ORDERS = env_int("IMPORT_BATCH_ORDERS", 1000)  # orders per commit transaction
IMPORT_PROGRESS_ROWS = 5000  # the dry run writes its progress every so many rows
IMPORT_JOB_TIMEOUT_SECONDS = 1800
IMPORT_STALE_SECONDS = 300  # a committing job without progress for this long may be started again

# 导出 Excel of an admin list (config/admin_export.py): the most rows one export writes; a longer list is refused
# with a message asking to narrow it (the file is written in constant memory, but it takes about 10 s per 100,000).
XLSX_EXPORT_MAX_ROWS = env_int("XLSX_EXPORT_MAX_ROWS", 200_000)
