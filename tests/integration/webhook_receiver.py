#!/usr/bin/env python3
"""webhook_receiver.py — a real HTTP receiver for t_webhooks.sh.

Listens on 127.0.0.1 (a free port, written to --port-file), HTTP/1.1 with
keep-alive, and appends one JSON line per request to --log: the path, the
headers, the body as text, whether the signature verified (with --secret)
and the status answered. What it answers depends on the path:

  /ok            200
  /fail-once     500 the first time a seq is seen, then 200
  /busy-once     429 with Retry-After: 1 the first time a seq is seen
  /gone          410
  /hang          answers nothing for 60 s
  /slow          200 after 20 ms

With --tls CERT KEY it speaks HTTPS. With --secret FILE a request whose X-Svcd-Signature is not
sha256=<hex HMAC-SHA256 of the body> gets 401.
"""
import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = set()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        seq = self.headers.get("X-Svcd-Seq", "")
        sig_ok = None
        if args.secret is not None:
            want = "sha256=" + hmac.new(args.secret, body,
                                        hashlib.sha256).hexdigest()
            sig_ok = hmac.compare_digest(
                want, self.headers.get("X-Svcd-Signature", ""))
        status, extra = 200, {}
        path = self.path
        with lock:
            first = (path, seq) not in seen
            seen.add((path, seq))
        if sig_ok is False:
            status = 401
        elif path == "/fail-once" and first:
            status = 500
        elif path == "/busy-once" and first:
            status, extra = 429, {"Retry-After": "1"}
        elif path == "/gone":
            status = 410
        elif path == "/hang":
            time.sleep(60)
        elif path == "/slow":
            time.sleep(0.02)
        rec = {"path": path, "headers": dict(self.headers.items()),
               "body": body.decode("utf-8", "surrogateescape"),
               "sig_ok": sig_ok, "status": status, "t": time.time()}
        with lock:
            with open(args.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
        reply = b"gone for good\n" if status == 410 else b"ok\n"
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


p = argparse.ArgumentParser()
p.add_argument("--port-file", required=True)
p.add_argument("--log", required=True)
p.add_argument("--secret")
p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
args = p.parse_args()
if args.secret is not None:
    with open(args.secret, "rb") as f:
        args.secret = f.read().rstrip(b"\r\n")
srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
if args.tls:
    import ssl  # noqa: E402
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls[0], args.tls[1])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(args.port_file + ".tmp", args.port_file)
sys.stdout.flush()
srv.serve_forever()
