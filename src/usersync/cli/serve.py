"""``usersync serve``: the portal and the API, with an embedded worker on the SQLite default.

A threaded WSGI server from the standard library (``wsgiref`` and ``socketserver``): enough for
the portal of one deployment and the demo, no dependency to add. Static files are served by
WhiteNoise, in the application. A larger deployment runs ``usersync.app.wsgi:application`` under
the WSGI server of its choice and ``usersync worker`` processes beside it.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.wsgi import get_wsgi_application
from django.db import connection

from usersync.app.jobs.worker import Worker

from . import CommandError
from .worker import log_progress, stopping

log = logging.getLogger("usersync.http")


def register(sub) -> None:
    serve = sub.add_parser("serve", help="serve the portal and the API (with a worker on SQLite)")
    serve.add_argument("--address", default="127.0.0.1:8000", help="HOST:PORT to listen on")
    group = serve.add_mutually_exclusive_group()
    group.add_argument("--worker", dest="worker", action="store_true", default=None,
                       help="run a worker in this process (the default on SQLite)")
    group.add_argument("--no-worker", dest="worker", action="store_false",
                       help="serve only (the default on PostgreSQL: run usersync worker)")
    serve.set_defaults(handler=lambda args: serve_portal(args.address, args.worker))


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class Server6(Server):
    address_family = socket.AF_INET6


class RequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 — the stdlib's name
        log.info("%s %s", self.address_string(), format % args)


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise CommandError(f"--address {address!r}: give HOST:PORT, e.g. 127.0.0.1:8000")
    return host, int(port)


def start_server(host: str, port: int) -> WSGIServer:
    """A threaded server of the application, bound and listening (``port`` 0: any free port)."""
    kind = Server6 if ":" in host else Server
    try:
        return make_server(host, port, get_wsgi_application(), server_class=kind,
                           handler_class=RequestHandler)
    except OSError as error:
        raise CommandError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def serve_portal(address: str, with_worker: bool | None = None) -> int:
    """Serve until SIGTERM or Ctrl-C; then stop taking requests and let runs in progress end."""
    host, port = parse_address(address)
    if with_worker is None:
        with_worker = connection.vendor == "sqlite"
    server = start_server(host, port)
    log_progress()  # after the application is loaded: loading it configures logging again
    threads = [threading.Thread(target=server.serve_forever, name="http", daemon=True)]
    worker = Worker(name="serve")
    if with_worker:
        threads.append(threading.Thread(target=worker.run, name="worker", daemon=True))
    print(f"usersync: serving http://{address}/" + (" with a worker" if with_worker else "")
          + "; Ctrl-C to stop", file=sys.stderr, flush=True)
    with stopping(worker.stop, "server"):
        for thread in threads:
            thread.start()
        while not worker.stop.wait(0.5):
            pass
        server.shutdown()
        server.server_close()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
    return 0
