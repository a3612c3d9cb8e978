"""A real HTTP server on 127.0.0.1 that plays Montage's archive list service and an image archive.

``ArchiveServer`` answers ``/cgi-bin/ArchiveList/nph-archivelist`` with a JSON
list (whatever ``listing`` is set to) and ``/files/<name>`` with the bytes in
``files``. Faults are injected per path: ``faults[path]`` is a list of fault
names consumed one per request, after which the file is served normally.

Faults:
    "500"      HTTP 500 with a short text body
    "404"      HTTP 404
    "drop"     full Content-Length, half the body, then a connection reset
    "short"    Content-Length 1000 bytes larger than the body (the whole real file)
    "truncate" no Content-Length, the first half of the body, then close
    "html"     200 with an HTML error page (text/html)
    "html-as-fits" 200 with an HTML page labelled application/fits
    "slow"     wait ``slow_seconds`` before answering (beyond the client's read timeout)

Every request is recorded in ``requests`` as (path, query dict).
"""

import json
import socket
import struct
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIST_PATH = "/cgi-bin/ArchiveList/nph-archivelist"
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service busy</title></head>"
    b"<body><h1>The archive is busy, try again later</h1></body></html>\n"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: faults cannot leak into the next request

    def log_message(self, *args):  # keep pytest output quiet
        pass

    def do_GET(self):
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        state = self.server.state
        with state.lock:
            state.requests.append((parsed.path, query))
            plan = state.faults.get(parsed.path)
            fault = plan.pop(0) if plan else None
        try:
            if fault == "slow":
                state.stop.wait(state.slow_seconds)
                if state.stop.is_set():
                    return
                fault = None
            if parsed.path == LIST_PATH:
                self._list(fault, query)
            elif parsed.path.startswith("/files/"):
                self._file(fault, parsed.path)
            else:
                self._send(404, b"no such path\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. after its timeout)

    def _list(self, fault, query):
        state = self.server.state
        if fault in ("500", "404"):
            self._send(int(fault), json.dumps({"error": "internal error"}).encode(), "application/json")
            return
        listing = state.listing(query) if callable(state.listing) else state.listing
        body = listing if isinstance(listing, bytes) else json.dumps(listing).encode()
        self._send(200, body, "application/json")

    def _file(self, fault, path):
        body = self.server.state.files.get(path)
        if body is None or fault == "404":
            self._send(404, b"<html><body>Not found</body></html>", "text/html")
        elif fault == "500":
            self._send(500, b"Internal Server Error\n", "text/plain")
        elif fault == "html":
            self._send(200, HTML_PAGE, "text/html; charset=utf-8")
        elif fault == "html-as-fits":
            self._send(200, HTML_PAGE, "application/fits")
        elif fault == "drop":
            self._headers(200, "application/octet-stream", len(body))
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            # SO_LINGER 0: close with a TCP reset, as a crashed server or broken link would.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif fault == "short":
            self._headers(200, "application/octet-stream", len(body) + 1000)
            self.wfile.write(body)
        elif fault == "truncate":
            self._headers(200, "application/octet-stream", None)
            self.wfile.write(body[: len(body) // 2])
        else:
            self._send(200, body, "application/octet-stream")

    def _headers(self, status, content_type, length):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status, body, content_type):
        self._headers(status, content_type, len(body))
        self.wfile.write(body)


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.requests = []
        self.faults = {}
        self.files = {}
        self.listing = []
        self.slow_seconds = 1.0


class ArchiveServer:
    """Start with ``start()``, stop with ``stop()``; ``url(path)`` gives full addresses."""

    def __init__(self):
        self.state = _State()
        self._server = None
        self._thread = None

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self):
        self.state.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self):
        return self._server.server_address[1]

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def list_url(self):
        return self.url(LIST_PATH)

    def add_file(self, name, data):
        path = "/files/" + name
        self.state.files[path] = data
        return self.url(path)

    def inject(self, name, *faults):
        with self.state.lock:
            self.state.faults["/files/" + name] = list(faults)

    def requests_for(self, name):
        with self.state.lock:
            return sum(1 for path, _ in self.state.requests if path == "/files/" + name)

    def list_queries(self):
        with self.state.lock:
            return [query for path, query in self.state.requests if path == LIST_PATH]

    def reset(self):
        with self.state.lock:
            self.state.requests.clear()
            self.state.faults.clear()
            self.state.files.clear()
            self.state.listing = []


def closed_port():
    """A local port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
