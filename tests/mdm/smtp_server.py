#!/usr/bin/env python3
"""A real SMTP server on loopback for interdict's notification tests: aiosmtpd with STARTTLS
required (the test's certificate), refusing any recipient whose local part starts with
"refuse" (550 5.1.1). Each delivered message is written to OUT_DIR as JSON (envelope, headers,
decoded body, whether the session was under TLS).
Usage: smtp_server.py --cert C --key K --out DIR; prints "PORT n"."""
import argparse
import email
import email.policy
import json
import os
import socket
import ssl
import sys
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].startswith("refuse"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["Subject"]),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "content_language": str(msg.get("Content-Language", "")),
            "body": body.get_content() if body is not None else "",
            "tls": session.ssl is not None,
        }
        name = os.path.join(self.out, f"{time.time_ns()}-{uuid.uuid4().hex}.json")
        with open(name + ".tmp", "w") as f:
            json.dump(rec, f)
        os.replace(name + ".tmp", name)
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ctl = Controller(Handler(args.out), hostname="127.0.0.1", port=port,
                     tls_context=ctx, require_starttls=True, server_hostname="127.0.0.1")
    ctl.start()
    print(f"PORT {port}", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin or kills us
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
