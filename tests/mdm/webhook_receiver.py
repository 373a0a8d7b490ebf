#!/usr/bin/env python3
"""A loopback webhook receiver for interdict's notification tests: verifies each request's
X-Interdict-Signature (sha256= hex HMAC-SHA256 of "{X-Interdict-Timestamp}.{body}") with the
shared secret, answers 401 to a bad one, and 503 to the first --fail-first requests. GET
/_received lists what arrived ({"valid", "body"}).
Usage: webhook_receiver.py --secret S [--fail-first N]; prints "PORT n"."""
import argparse
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()
    lock = threading.Lock()
    received = []
    state = {"fail": args.fail_first}

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, body=b"{}"):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with lock:
                self.reply(200, json.dumps(received).encode())

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ts = self.headers.get("X-Interdict-Timestamp", "")
            sig = self.headers.get("X-Interdict-Signature", "")
            want = "sha256=" + hmac.new(args.secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(want, sig)
            with lock:
                received.append({"valid": valid, "body": json.loads(raw) if raw else None})
                fail = state["fail"] > 0
                if fail:
                    state["fail"] -= 1
            if not valid:
                return self.reply(401)
            self.reply(503 if fail else 200)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
