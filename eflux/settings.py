"""Every knob comes from the environment. With nothing set, the product runs embedded:
SQLite, an in-memory channel layer and jobs in-process (no servers to install).
DATABASE_URL selects PostgreSQL; REDIS_URL selects the channels-redis layer and the Celery broker."""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = env_bool("DJANGO_DEBUG", default=not os.environ.get("DJANGO_SECRET_KEY"))
# `make run` on a laptop: production error pages (no debug 404 listing every URL) over plain http on 127.0.0.1,
# so no TLS redirect and no Secure-only cookies. Never set in production.
LOCAL_HTTP = env_bool("EFLUX_LOCAL_HTTP", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-insecure-secret-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = [
    h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "channels",
    "accounts",
    "stations",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves static files from any server process (daphne in production and in tests), no extra web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it needs the authenticated user and answers lockouts itself.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "eflux.urls"
ASGI_APPLICATION = "eflux.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            # Persistent connections: opening one per database call cost 2-12x the OCPP throughput (bench/).
            # The test runner sets 0 for its own process (scripts/test.sh) so test databases can be dropped.
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            # With persistent connections: ping a reused connection first, so that after a database restart
            # the first message is not answered with an error only because its connection was stale.
            conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", True),
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Several threads (websocket consumers, in-process jobs) write; wait for the lock instead of failing.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
            # A file, not :memory:, so that a server process started by a test shares the test database.
            "TEST": {"NAME": os.environ.get("SQLITE_TEST_PATH", f"/tmp/eflux-test-{os.getpid()}.sqlite3")},
        }
    }

# Threads (each with its own database connection) that run the ORM for the async code of a process.
ORM_THREADS = env_int("ORM_THREADS", 16)
# The accept backlog of daphne's listening sockets (stations/ocpp/daphne_listen.py). 50 is twisted's own default:
# larger only helps while the process keeps up (an overloaded one then accepts more handshakes than it can
# finish within daphne's 5 s: 215 of 5,000 new stations connected with 4096, 4,181 with 50; docs/benchmarks.md).
OCPP_LISTEN_BACKLOG = env_int("OCPP_LISTEN_BACKLOG", 50)

AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's defaults, plus the cheaper hasher for charger AuthorizationKeys (stations/hashers.py); people's
# passwords keep the first one.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "stations.hashers.StationKeyHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Without collectstatic (embedded mode, tests), serve straight from the source folders.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", default=DEBUG or LOCAL_HTTP)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Channels -------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 defaults socket_timeout to 5 s, which kills channels-redis's blocking receive
                # (django/channels_redis#422). None restores "wait as long as it takes".
                # redis-py 8 caps a pool at 100 connections (MaxConnectionsError beyond): a reconnect storm's
                # handshakes each hold one briefly.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "max_connections": env_int("CHANNEL_REDIS_MAX_CONNECTIONS", 1000),
                    }
                ],
                "prefix": os.environ.get("CHANNEL_PREFIX", "eflux"),
                "capacity": env_int("CHANNEL_CAPACITY", 1000),
                # Chargers stay connected for months; group membership must not lapse after a day.
                "group_expiry": env_int("CHANNEL_GROUP_EXPIRY", 10 * 365 * 86400),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Embedded mode: no broker, jobs run in-process (see eflux/jobs.py, which runs them on a thread pool).
JOBS_IN_PROCESS = env_bool("JOBS_IN_PROCESS", default=not REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = JOBS_IN_PROCESS
CELERY_TASK_ACKS_LATE = True
# A task whose worker process dies mid-run goes back to the queue instead of being acknowledged as failed
# (with acks_late, Celery's default acknowledges it). Jobs are rows whose runs are idempotent (a resumed
# configuration job reads the answers of the calls it had sent); tasks that are not set acks_late=False.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis: a message a worker took and never acknowledged (the worker was SIGKILLed) is handed out again
    # after this long. Longer than any task runs (a call waits at most OCPP_CALL_QUEUE_SECONDS + timeout), so a
    # healthy task is not run twice; a configuration job run twice anyway is harmless (only one claims it).
    # Kombu's default is an hour; the job reaper (below) resumes a dead worker's job well before either.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900),
    # Seconds, not forever, to reach the broker and for it to answer: a view that starts a job must not hang on
    # a dead Redis, nor on one that vanished without closing the connection (measured: a publish to a broker
    # that accepts and never answers hung for good without socket_timeout). Longer than the worker's 1 s BRPOP.
    "socket_connect_timeout": env_int("CELERY_BROKER_CONNECT_TIMEOUT", 5),
    "socket_timeout": env_int("CELERY_BROKER_SOCKET_TIMEOUT", 5),
}
# Publishing when the broker is down: a few quick retries, then the caller marks its job (eflux.jobs.enqueue).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}

# Jobs (eflux/jobs.py, stations/services/configuration.py). A running job's worker proves it is alive every
# JOB_HEARTBEAT_SECONDS; after JOB_STALL_SECONDS without that proof (worker killed, server restarted), or
# queued that long without being taken (broker was down), the reaper resumes it; after JOB_MAX_INTERRUPTIONS
# lost runs it fails visibly instead.
JOB_HEARTBEAT_SECONDS = float(os.environ.get("JOB_HEARTBEAT_SECONDS", 10))
JOB_STALL_SECONDS = env_int("JOB_STALL_SECONDS", 60)
JOB_MAX_INTERRUPTIONS = env_int("JOB_MAX_INTERRUPTIONS", 3)
JOB_REAPER_SECONDS = float(os.environ.get("JOB_REAPER_SECONDS", 30))
# `celery -A eflux beat` (exactly one per deployment) runs these. The embedded default has no broker and no
# beat: its server process runs the entries named in IN_PROCESS_PERIODIC_TASKS on a thread
# (eflux.jobs.scheduler_start). "expires": a reaper pass nobody ran in time is dropped, not run late in a pile.
CELERY_BEAT_SCHEDULE = {
    # Stations held by a server process that stopped proving it is alive go offline even when no daphne
    # process is left to notice (each live daphne process does the same on its heartbeat).
    "stations-reap-dead-processes": {
        "task": "stations.tasks.processes_reap_task",
        "schedule": env_int("OCPP_PROCESS_REAP_SECONDS", 15),
        "options": {"expires": env_int("OCPP_PROCESS_REAP_SECONDS", 15)},
    },
    "stations-reap-stalled-jobs": {
        "task": "stations.tasks.configuration_jobs_reap_task",
        "schedule": JOB_REAPER_SECONDS,
        "options": {"expires": JOB_REAPER_SECONDS},
    },
    # Configuration drift: each connected station's configuration is read once a day (a dated snapshot).
    "stations-configuration-daily-read": {
        "task": "stations.tasks.configuration_daily_reread_task",
        "schedule": env_int("CONFIGURATION_READ_SECONDS", 86400),
        "options": {"expires": 3600},
    },
}
# Billing (billing/services/runs.py): the monthly run on the 1st at 03:00 in BILLING_TIMEZONE for the previous
# month, and a daily catch-up at 03:30 that finishes a run a crash or a lost worker left open (idempotent).
BILLING_TIMEZONE = os.environ.get("BILLING_TIMEZONE", "Europe/Amsterdam")
CELERY_BEAT_SCHEDULE["billing-monthly-run"] = {
    "task": "billing.tasks.billing_run_monthly_task",
    "schedule": crontab(minute=0, hour=3, day_of_month=1),
}
CELERY_BEAT_SCHEDULE["billing-daily-catch-up"] = {
    "task": "billing.tasks.billing_run_catch_up_task",
    "schedule": crontab(minute=30, hour=3),
}
# Celery beat reads crontab entries in this zone (the stations entries are plain intervals).
CELERY_TIMEZONE = BILLING_TIMEZONE
IN_PROCESS_PERIODIC_TASKS = [
    "stations-reap-stalled-jobs",
    "stations-configuration-daily-read",
    "billing-daily-catch-up",
]
# The platform as it appears on documents (seller of usage invoices, customer of self-billing invoices).
BILLING_ISSUER = {
    "name": os.environ.get("BILLING_ISSUER_NAME", "eflux B.V."),
    "address": os.environ.get("BILLING_ISSUER_ADDRESS", "Stationsplein 1\n1012 AB Amsterdam"),
    "country": os.environ.get("BILLING_ISSUER_COUNTRY", "NL"),
    "vat_number": os.environ.get("BILLING_ISSUER_VAT_NUMBER", "NL004495445B01"),
    "kvk_number": os.environ.get("BILLING_ISSUER_KVK_NUMBER", "12345678"),
    "kind": "business",
}
# VAT on the platform's own supplies (plan fees, platform fees); session costs keep their snapshotted rate.
BILLING_VAT_RATE = os.environ.get("BILLING_VAT_RATE", "21.00")
BILLING_PAYMENT_DAYS = env_int("BILLING_PAYMENT_DAYS", 30)
# Sessions reported later than this many months after they ended are not billed (flagged too_late).
BILLING_LATE_MONTHS = env_int("BILLING_LATE_MONTHS", 3)
# The monthly run issues what it drafted; False keeps drafts for an operator to issue (`billing_run --issue`).
BILLING_AUTO_ISSUE = env_bool("BILLING_AUTO_ISSUE", default=True)
BILLING_RUN_LEASE_SECONDS = env_int("BILLING_RUN_LEASE_SECONDS", 1800)

# --- OCPP -----------------------------------------------------------------------------------------
OCPP_HEARTBEAT_INTERVAL = env_int("OCPP_HEARTBEAT_INTERVAL", 300)
OCPP_CALL_TIMEOUT = env_int("OCPP_CALL_TIMEOUT", 30)
OCPP_MAX_FRAME_BYTES = env_int("OCPP_MAX_FRAME_BYTES", 256 * 1024)
# Each daphne process re-reads the call queue this often (safety net for lost wake-ups; in the embedded mode
# also how a call queued by another process, e.g. `manage.py ocpp_call`, reaches the socket).
OCPP_CALL_SWEEP_SECONDS = float(os.environ.get("OCPP_CALL_SWEEP_SECONDS", 5 if REDIS_URL else 1))
# A call not sent within this many seconds of being queued is settled as timed out and never sent afterwards
# (a Reset or RemoteStart fired minutes after anyone asked is worse than none). Callers may pass their own.
OCPP_CALL_QUEUE_SECONDS = env_int("OCPP_CALL_QUEUE_SECONDS", 60)
# Each daphne process proves it is alive every OCPP_PROCESS_BEAT_SECONDS; the stations of a process that has
# not done so for OCPP_PROCESS_DEAD_SECONDS are marked offline (by any other process, or the beat task).
OCPP_PROCESS_BEAT_SECONDS = float(os.environ.get("OCPP_PROCESS_BEAT_SECONDS", 5))
OCPP_PROCESS_DEAD_SECONDS = float(os.environ.get("OCPP_PROCESS_DEAD_SECONDS", 30))
# How many unknown stations one remote address may create per hour before further ones are refused.
OCPP_NEW_STATIONS_PER_IP_PER_HOUR = env_int("OCPP_NEW_STATIONS_PER_IP_PER_HOUR", 20)
# Connection diagnostics (stations.services.admission.connection_refusal_record): a refusal of the same
# (identity, reason, address) is written at most every CONNECTION_ATTEMPT_WRITE_SECONDS per process (the retries
# in between are counted and added on the next write) and coalesced into one row for
# CONNECTION_ATTEMPT_COALESCE_SECONDS; an identity keeps its newest CONNECTION_ATTEMPTS_PER_IDENTITY rows, identities
# that never got in CONNECTION_ATTEMPTS_UNKNOWN_MAX rows in all, and a process creates at most
# CONNECTION_ATTEMPT_NEW_ROWS_PER_MINUTE new rows a minute (a scan of random identities is logged, not stored).
CONNECTION_ATTEMPT_WRITE_SECONDS = float(os.environ.get("CONNECTION_ATTEMPT_WRITE_SECONDS", 5))
CONNECTION_ATTEMPT_COALESCE_SECONDS = env_int("CONNECTION_ATTEMPT_COALESCE_SECONDS", 3600)
CONNECTION_ATTEMPTS_PER_IDENTITY = env_int("CONNECTION_ATTEMPTS_PER_IDENTITY", 20)
CONNECTION_ATTEMPTS_UNKNOWN_MAX = env_int("CONNECTION_ATTEMPTS_UNKNOWN_MAX", 5000)
CONNECTION_ATTEMPT_NEW_ROWS_PER_MINUTE = env_int("CONNECTION_ATTEMPT_NEW_ROWS_PER_MINUTE", 120)
# Progress views stop waiting for a station that does not come back (Reset, an Auto Configuration job waiting
# for the station) after this long, and say why.
STATION_WAIT_GIVE_UP_SECONDS = env_int("STATION_WAIT_GIVE_UP_SECONDS", 300)
# Commissioning test (stations.services.commissioning): how long each step waits for the station, and how long
# the meter has to rise once the session runs.
COMMISSIONING_STEP_SECONDS = env_int("COMMISSIONING_STEP_SECONDS", 60)
COMMISSIONING_METER_SECONDS = env_int("COMMISSIONING_METER_SECONDS", 60)

# --- Security -------------------------------------------------------------------------------------
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A page in the portal's layout instead of axes' bare text; still answered with HTTP 429.
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "noreply@localhost")

if not DEBUG and not LOCAL_HTTP:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Chargers connect with plain ws:// in security profile 1; the OCPP path must not be redirected. Nor the
    # load balancer's health check, which speaks plain HTTP to each server process (deploy/haproxy.cfg).
    SECURE_REDIRECT_EXEMPT = [r"^ocpp/", r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
