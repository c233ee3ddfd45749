"""The smallest django-oscar 4.2 project that places orders: its own database `oscar_bench` (or $OSCAR_DB_NAME)
on the bench PostgreSQL. Used only by bench/oscar_peer/peer.py, in .venv-oscar."""

import os

import oscar
from oscar.defaults import *  # noqa: F403 - oscar's documented way to take its default settings

SECRET_KEY = "oscar-bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
SITE_ID = 1
INSTALLED_APPS = list(oscar.INSTALLED_APPS)
ROOT_URLCONF = "oscar_peer.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("OSCAR_DB_NAME", "oscar_bench"),
        "HOST": "127.0.0.1",
        "PORT": 5432,
        "USER": "postgres",
        "PASSWORD": "postgres",
        "ATOMIC_REQUESTS": True,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
HAYSTACK_SIGNAL_PROCESSOR = "haystack.signals.BaseSignalProcessor"  # no search index work on save
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth"]},
    }
]
OSCAR_DEFAULT_CURRENCY = "CNY"
OSCAR_INITIAL_ORDER_STATUS = "Pending"
OSCAR_ORDER_STATUS_PIPELINE = {"Pending": ("Paid", "Cancelled"), "Paid": (), "Cancelled": ()}
LOGGING_CONFIG = None
