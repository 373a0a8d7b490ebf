#!/usr/bin/env python3
"""A loopback emulator of NanoMDM's command API and webhook for interdict's Apple connector tests.

Standard library only (plistlib, hmac, http.server, urllib).

API (as NanoMDM's docs/operations-guide.md and http/api describe it):
  PUT /v1/enqueue/{id,id,...}[?nopush=1]  body = a raw command plist. HTTP Basic auth with
  user "nanomdm" and the API key (--api-key) is checked; each command must be an XML plist
  dict with a CommandUUID string and a Command dict with a RequestType string, and the keys
  interdict sends are type-checked (InstalledApplicationList: ManagedAppsOnly bool, Items list
  of strings; RemoveApplication: Identifier string). A bad command is a violation (listed at
  GET /_control/violations, which the tests assert empty) and is answered 500 with
  {"command_error": ...} as NanoMDM does. The answer is NanoMDM's APIResult JSON: per-id
  "status" ({"push_result": ...} or {"command_error": ...}), "command_uuid", "request_type";
  200 when every id was queued, 207 when some were, 500 when none. A CommandUUID already queued
  and an unknown enrollment id are per-id command errors.

Devices: PUT /_control/devices {"<udid>": {"apps": [{"Identifier": ..., "Name": ...,
"ShortVersion": ..., "Version": ...}], "unmanaged": ["bundle.id"], "not_now": n or
{"RemoveApplication": n}}}; GET returns
them as they are now (a removed app is gone). Queued commands are "delivered" to the simulated
devices once a webhook URL is set (PUT /_control/config {"webhook_url": ..., "webhook_secret":
...}), and each answer is POSTed there as NanoMDM's MicroMDM-compatible webhook does: JSON
{"topic": "mdm.Connect", "event_id", "created_at", "acknowledge_event": {"udid", "status",
"command_uuid", "raw_payload": base64 of the device's XML plist}}, with X-Hmac-Signature =
base64(HMAC-SHA256(body, secret)). A device with "not_now": n answers its next n commands (of
that request type, for a dict) NotNow, then gets them again; a RemoveApplication of an app listed in "unmanaged" is answered Error
with Apple's ErrorChain ("The app ... is not managed."). GET /_control/log lists every webhook
posted with interdict's HTTP status.

Faults (PUT /_control/faults): {"status_503": n} answers the next n enqueues 503;
{"slow_ms": ms} delays every enqueue answer. POST /_control/replay posts the last webhook again,
byte for byte with its signature; POST /_control/bad_signature posts a fresh answer signed with
another key; POST /_control/post {"body": ...} posts that body signed with the shared secret.
All answer {"code": interdict's status}. POST /_control/sample {"udid", "plist":
{...}} answers {"body", "signature"} of the webhook it would post (for client tests).

Usage: nanomdm_emulator.py --api-key KEY [--port 0]; prints "PORT n".
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import plistlib
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEM_KEYS = {"Identifier", "Name", "Version", "ShortVersion", "BundleSize", "DynamicSize",
             "ExternalVersionIdentifier", "DistributorIdentifier", "AppStoreVendable",
             "DeviceBasedVPP", "BetaApp", "AdHocCodeSigned", "IsValidated", "IsAppClip",
             "HasUpdateAvailable", "Installing", "DownloadFailed", "DownloadWaiting",
             "DownloadPaused", "DownloadCancelled", "Source"}


class State:
    def __init__(self, args):
        self.api_key = args.api_key
        self.lock = threading.Lock()
        self.devices = {}
        self.queues = {}          # udid -> list of (uuid, request_type, command dict)
        self.known_uuids = set()
        self.commands = []        # every command queued: {uuid, request_type, ids, identifier}
        self.violations = []
        self.log = []             # every webhook posted
        self.faults = {"status_503": 0, "slow_ms": 0}
        self.webhook_url = None
        self.secret = b""
        self.last_post = None     # (body, signature)
        self.wake = threading.Event()


def now_rfc3339():
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def event_body(udid, status, command_uuid, payload):
    ev = {
        "topic": "mdm.Connect",
        "event_id": str(uuid.uuid4()),
        "created_at": now_rfc3339(),
        "acknowledge_event": {
            "udid": udid,
            "status": status,
            "command_uuid": command_uuid,
            "raw_payload": base64.b64encode(plistlib.dumps(payload, fmt=plistlib.FMT_XML)).decode(),
        },
    }
    return json.dumps(ev, indent="\t").encode()


def sign(secret, body):
    return base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()


def post(st, body, signature):
    req = urllib.request.Request(st.webhook_url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "X-Hmac-Signature": signature})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception as e:  # noqa: BLE001 - reported in the log
        print(f"webhook post failed: {e}", file=sys.stderr)
        return 0


def answer(st, udid, cmd_uuid, rtype, cmd):
    """The device's answer (a plist dict) to one command; mutates the device."""
    dev = st.devices.get(udid, {})
    base = {"CommandUUID": cmd_uuid, "UDID": udid}
    nn = dev.get("not_now", 0)
    if isinstance(nn, dict):
        if nn.get(rtype, 0) > 0:
            nn[rtype] -= 1
            return dict(base, Status="NotNow"), True
    elif nn > 0:
        dev["not_now"] -= 1
        return dict(base, Status="NotNow"), True
    if rtype == "InstalledApplicationList":
        items = cmd.get("Items")
        apps = []
        for a in dev.get("apps", []):
            keep = {k: v for k, v in a.items() if items is None or k in items or k == "Identifier"}
            apps.append(keep)
        return dict(base, Status="Acknowledged", InstalledApplicationList=apps), False
    if rtype == "RemoveApplication":
        ident = cmd["Identifier"]
        if ident in dev.get("unmanaged", []):
            return dict(base, Status="Error", ErrorChain=[{
                "ErrorCode": 12029, "ErrorDomain": "MCMDMErrorDomain",
                "LocalizedDescription": f"The app \u201c{ident}\u201d is not managed.",
                "USEnglishDescription": f"The app \u201c{ident}\u201d is not managed."}]), False
        before = len(dev.get("apps", []))
        dev["apps"] = [a for a in dev.get("apps", []) if a.get("Identifier") != ident]
        if len(dev["apps"]) == before:
            return dict(base, Status="Error", ErrorChain=[{
                "ErrorCode": 12026, "ErrorDomain": "MCMDMErrorDomain",
                "USEnglishDescription": f"The app \u201c{ident}\u201d is not installed."}]), False
        return dict(base, Status="Acknowledged"), False
    return dict(base, Status="Error", ErrorChain=[{"ErrorCode": 12021, "ErrorDomain": "MCMDMErrorDomain",
                                                    "USEnglishDescription": "Unknown request type"}]), False


def deliverer(st):
    """Delivers queued commands to the simulated devices and posts their answers."""
    while True:
        st.wake.wait(0.2)
        st.wake.clear()
        while True:
            with st.lock:
                if not st.webhook_url:
                    break
                job = None
                for udid, q in st.queues.items():
                    if q:
                        job = (udid, q.pop(0))
                        break
                if job is None:
                    break
                udid, (cmd_uuid, rtype, cmd) = job
                payload, again = answer(st, udid, cmd_uuid, rtype, cmd)
                if again:
                    st.queues[udid].append((cmd_uuid, rtype, cmd))
                body = event_body(udid, payload["Status"], cmd_uuid, payload)
                sig = sign(st.secret, body)
                st.last_post = (body, sig)
            code = post(st, body, sig)
            with st.lock:
                st.log.append({"udid": udid, "command_uuid": cmd_uuid, "request_type": rtype,
                               "status": payload["Status"], "code": code})


def check_command(body):
    """Returns (uuid, request_type, command) or raises ValueError naming what is wrong."""
    if not body.lstrip().startswith(b"<?xml"):
        raise ValueError("the command is not an XML plist")
    try:
        p = plistlib.loads(body, fmt=plistlib.FMT_XML)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"not a plist: {e}") from e
    if not isinstance(p, dict):
        raise ValueError("the plist is not a dict")
    extra = set(p) - {"Command", "CommandUUID"}
    if extra:
        raise ValueError(f"unknown top-level keys {sorted(extra)}")
    u = p.get("CommandUUID")
    if not isinstance(u, str) or not u:
        raise ValueError("CommandUUID missing or not a string")
    c = p.get("Command")
    if not isinstance(c, dict):
        raise ValueError("Command missing or not a dict")
    rt = c.get("RequestType")
    if not isinstance(rt, str) or not rt:
        raise ValueError("Command.RequestType missing or not a string")
    if rt == "InstalledApplicationList":
        allowed = {"RequestType", "Identifiers", "ManagedAppsOnly", "Items"}
        if set(c) - allowed:
            raise ValueError(f"InstalledApplicationList: unknown keys {sorted(set(c) - allowed)}")
        if "ManagedAppsOnly" in c and not isinstance(c["ManagedAppsOnly"], bool):
            raise ValueError("ManagedAppsOnly is not a boolean")
        items = c.get("Items")
        if items is not None and (not isinstance(items, list)
                                  or not all(isinstance(i, str) and i in ITEM_KEYS for i in items)):
            raise ValueError(f"Items is not a list of known keys: {items!r}")
    elif rt == "RemoveApplication":
        if set(c) - {"RequestType", "Identifier"}:
            raise ValueError(f"RemoveApplication: unknown keys {sorted(set(c) - {'RequestType', 'Identifier'})}")
        if not isinstance(c.get("Identifier"), str) or not c["Identifier"]:
            raise ValueError("RemoveApplication.Identifier missing or not a string")
    return u, rt, c


def make_handler(st):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def send(self, code, obj):
            data = json.dumps(obj, indent="\t").encode() if obj is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self):
            h = self.headers.get("Authorization", "")
            if not h.startswith("Basic "):
                return False
            try:
                user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
            except Exception:  # noqa: BLE001
                return False
            return hmac.compare_digest(user, "nanomdm") and hmac.compare_digest(pw, st.api_key)

        def do_PUT(self):
            path = urllib.parse.urlsplit(self.path)
            body = self.body()
            if path.path.startswith("/_control/"):
                return self.control("PUT", path.path[len("/_control/"):], body)
            if not path.path.startswith("/v1/enqueue/"):
                return self.send(404, {"error": "not found"})
            if not self.authorized():
                with st.lock:
                    st.violations.append("enqueue without NanoMDM's Basic credentials")
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="nanomdm"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with st.lock:
                slow = st.faults.get("slow_ms", 0)
                fail = st.faults.get("status_503", 0) > 0
                if fail:
                    st.faults["status_503"] -= 1
            if slow:
                time.sleep(slow / 1000)
            if fail:
                return self.send(503, None)
            ids = [urllib.parse.unquote(i) for i in path.path[len("/v1/enqueue/"):].split(",")]
            try:
                u, rt, c = check_command(body)
            except ValueError as e:
                with st.lock:
                    st.violations.append(f"enqueue: {e}")
                return self.send(500, {"command_error": f"decoding command: {e}"})
            result = {"status": {}, "command_uuid": u, "request_type": rt}
            ok = 0
            with st.lock:
                dup = u in st.known_uuids
                st.known_uuids.add(u)
                for i in ids:
                    if dup:
                        result["status"][i] = {"command_error": f"command {u} already exists"}
                    elif i not in st.devices:
                        result["status"][i] = {"command_error": f"enrollment {i} not found"}
                    else:
                        st.queues.setdefault(i, []).append((u, rt, c))
                        result["status"][i] = {"push_result": str(uuid.uuid4()).upper()}
                        ok += 1
                if ok:
                    st.commands.append({"command_uuid": u, "request_type": rt, "identifier": c.get("Identifier"),
                                        "ids": [i for i in ids if "push_result" in result["status"][i]]})
            st.wake.set()
            self.send(200 if ok == len(ids) else 207 if ok else 500, result)

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/_control/"):
                return self.control("GET", path[len("/_control/"):], b"")
            self.send(404, {"error": "not found"})

        def do_POST(self):
            path = urllib.parse.urlsplit(self.path).path
            body = self.body()
            if path.startswith("/_control/"):
                return self.control("POST", path[len("/_control/"):], body)
            self.send(404, {"error": "not found"})

        def control(self, verb, what, body):
            with st.lock:
                if verb == "PUT" and what == "devices":
                    st.devices = json.loads(body)
                    return self.send(200, {})
                if verb == "GET" and what == "devices":
                    return self.send(200, st.devices)
                if verb == "PUT" and what == "faults":
                    st.faults.update(json.loads(body))
                    return self.send(200, st.faults)
                if verb == "PUT" and what == "config":
                    c = json.loads(body)
                    st.webhook_url = c.get("webhook_url")
                    st.secret = c.get("webhook_secret", "").encode()
                    st.wake.set()
                    return self.send(200, {})
                if verb == "GET" and what == "violations":
                    return self.send(200, st.violations)
                if verb == "GET" and what == "log":
                    return self.send(200, st.log)
                if verb == "GET" and what == "commands":
                    return self.send(200, st.commands)
                if verb == "GET" and what == "queued":
                    return self.send(200, {k: len(v) for k, v in st.queues.items()})
                if verb == "POST" and what == "sample":
                    c = json.loads(body)
                    b = event_body(c["udid"], c["plist"]["Status"], c["plist"].get("CommandUUID"), c["plist"])
                    return self.send(200, {"body": b.decode(), "signature": sign(st.secret, b)})
                last = st.last_post
            if verb == "POST" and what == "replay":
                if last is None:
                    return self.send(409, {"error": "nothing posted yet"})
                return self.send(200, {"code": post(st, last[0], last[1])})
            if verb == "POST" and what == "post":
                # A body of the test's choosing, signed with the shared secret (malformed and
                # stale webhooks, as a compromised or misconfigured NanoMDM could send).
                b = json.loads(body)["body"].encode()
                return self.send(200, {"code": post(st, b, sign(st.secret, b))})
            if verb == "POST" and what == "bad_signature":
                payload = {"CommandUUID": str(uuid.uuid4()).upper(), "Status": "Acknowledged",
                           "UDID": "forged", "InstalledApplicationList": []}
                b = event_body("forged", "Acknowledged", payload["CommandUUID"], payload)
                return self.send(200, {"code": post(st, b, sign(b"not the shared secret", b))})
            self.send(404, {"error": f"no control {verb} {what}"})

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", required=True)
    args = ap.parse_args()
    st = State(args)
    threading.Thread(target=deliverer, args=(st,), daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(st))
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
