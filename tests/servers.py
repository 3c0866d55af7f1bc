"""Private servers for tests that stop and restart them (the shared PostgreSQL and Redis must keep
running for everything else): PostgreSQL in a temp dir, a redis-server on a free port; and a local
webhook receiver.

The helpers live in ``staging.processes`` (the staging deployer starts the same servers)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from staging.processes import PrivatePostgres, RedisProcess, free_port

__all__ = ["Hook", "PrivatePostgres", "RedisProcess", "free_port"]


class Hook:
    """A local webhook receiver answering a scripted list of status codes."""

    def __init__(self, codes):
        self.codes, self.received = list(codes), []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                code = hook.codes.pop(0) if hook.codes else 200
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
