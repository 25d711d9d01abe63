"""Django settings. Everything an operator sets comes from the environment:

- ``USERSYNC_HOME``: where the embedded SQLite database and generated keys live (default ``./var``).
- ``DATABASE_URL``: a PostgreSQL URL (``postgresql://user:pass@host:5432/db``); SQLite otherwise.
- ``USERSYNC_SECRET_KEY``: Django's secret key; generated into ``$USERSYNC_HOME`` when unset.
- ``USERSYNC_DEBUG``, ``USERSYNC_ALLOWED_HOSTS`` (comma-separated), ``USERSYNC_BASE_URL``.
- ``USERSYNC_LEASE_SECONDS`` (default 60): how long a worker holds a run without a heartbeat; a
  run whose worker died is taken over or failed after that (``usersync.app.jobs``).
- ``USERSYNC_RETRY_DELAYS`` (default ``60,300,900``): seconds before each retry of a run that
  failed to connect; one retry per delay, so 4 attempts within about 20 minutes.
- ``USERSYNC_ALLOW_PRIVATE_DESTINATIONS`` (``1`` to allow): contact images and webhooks may then
  reach private and loopback addresses (``usersync.app.net_guard``); refused by default.
- ``USERSYNC_SMTP_URL`` (``smtp://user:password@host:587``, ``smtps://…:465``; unset: no email),
  ``USERSYNC_FROM_EMAIL``, ``USERSYNC_SMTP_CA_FILE``, ``USERSYNC_SMTP_TIMEOUT`` (seconds, default
  10): the emails runs send (``usersync.app.notifications``, docs/email.md). Links in them start
  with ``USERSYNC_BASE_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from usersync.app.keys import home, secret_key

HOME: Path = home()
SECRET_KEY = secret_key()
DEBUG = os.environ.get("USERSYNC_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("USERSYNC_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
BASE_URL = os.environ.get("USERSYNC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "usersync.app.orgs",
    "usersync.app.directory",
    "usersync.app.accounts",
    "usersync.app.portal",
    "usersync.app.webhooks",
    "ninja",  # serves Swagger UI's files locally for /api/v1/docs (no CDN)
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "usersync.app.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "usersync.app.wsgi.application"

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": HOME / "usersync.sqlite3",
            "OPTIONS": {
                # WAL lets the portal read while a sync writes; IMMEDIATE serializes writers
                # instead of failing them with "database is locked" half-way through.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "/static/"
# Static files (htmx, the portal's CSS, Swagger UI) are served by WhiteNoise from the installed
# apps themselves: no collectstatic step, no web server to configure, the same under runserver
# and a WSGI server. The vendored htmx carries its version in its name (htmx-2.0.11.min.js).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LEASE_SECONDS = float(os.environ.get("USERSYNC_LEASE_SECONDS", "60"))
RETRY_DELAYS = tuple(float(s) for s in os.environ.get("USERSYNC_RETRY_DELAYS", "60,300,900").split(",")
                     if s.strip())
#: Days a run (its plan, its per-record details) is kept; a source's last 20 runs stay whatever
#: their age. 0 keeps every run.
RUN_HISTORY_DAYS = int(os.environ.get("USERSYNC_RUN_HISTORY_DAYS", "90"))
USERSYNC_ALLOW_PRIVATE_DESTINATIONS = (
    os.environ.get("USERSYNC_ALLOW_PRIVATE_DESTINATIONS", "") == "1")
SMTP_URL = os.environ.get("USERSYNC_SMTP_URL", "").strip()
SMTP_CA_FILE = os.environ.get("USERSYNC_SMTP_CA_FILE", "")
SMTP_TIMEOUT = float(os.environ.get("USERSYNC_SMTP_TIMEOUT", "10"))
FROM_EMAIL = os.environ.get("USERSYNC_FROM_EMAIL", "usersync@localhost")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"usersync": {"handlers": ["console"], "level": os.environ.get("USERSYNC_LOG_LEVEL", "WARNING")}},
}
