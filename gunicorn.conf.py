"""gunicorn settings for the CarePact API: `gunicorn -c gunicorn.conf.py wsgi:app`.

`make run` (devserver/run.py) and the README's deployment use this file; the load and chaos
runs too. Every setting can be changed from the environment.

Threaded workers (gthread): a client that connects and sends nothing is left to the poller,
and one that sends half a request ties up one thread of `threads`, not a whole worker, so a
few idle or slow connections cannot stop the API as they stopped the sync workers. In
production a reverse proxy in front (nginx, a cloud load balancer) buffers each request
whole before it reaches gunicorn, which closes the slow-client hole entirely.
"""

import os

from gunicorn.http import wsgi as _gunicorn_wsgi

# Imported by the master at start, not when a worker dies: on a busy machine the import
# took seconds, and the dead worker's transactions blocked their patients meanwhile.
from api import session_ledger
from api.config import DEFAULT_MONGODB_URI

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# A worker whose main loop is stuck this long is replaced; requests themselves are bounded
# by the database timeouts (MONGODB_TIMEOUT_MS) well below it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
# How long an idle kept-alive connection may wait for its next request.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Headers are small here (a bearer token is the largest); bodies are capped by the app.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# The proxy addresses whose X-Forwarded-Proto gunicorn believes (the app's own
# TRUSTED_PROXY_HOPS decides the client address for rate limits).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The app logs every request itself (carepact.access, JSON, with request ids).
accesslog = None
errorlog = "-"

# Do not tell the world which server and version answer: gunicorn has no setting for its
# `Server` header, so name the product instead in the module that writes it.
_gunicorn_wsgi.SERVER = "CarePact"


def child_exit(_server, worker):
    """A worker killed inside a transaction leaves it open, blocking its documents' other
    writers until the database gives up on it (api/session_ledger.py): abort it now. In
    the master's own thread, bounded by the ledger's short timeout: a client built in
    another thread while the master forks the replacement worker could be copied half-made
    into it (a run that did so printed pymongo's exit hook failing on a `Monitor`)."""
    uri = os.environ.get("MONGODB_URI") or DEFAULT_MONGODB_URI
    session_ledger.abort_dead(uri, [worker.pid])
