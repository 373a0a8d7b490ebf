#!/usr/bin/env python3
"""A loopback emulator of Google's Android Management API for interdict's connector tests.

Every request and response body is checked against the API's discovery document as shipped in
Google's `google-api-python-client` package (googleapiclient/discovery_cache/documents/
androidmanagement.v1.json): an unknown field, a wrong type, an unknown enum value or a missing
"Required." field is a violation; the request fails with 400 and the violation is listed at
GET /_control/violations, which the tests assert empty.

The token endpoint (POST /token) checks the service account's RS256 JWT against the test public
key (PyJWT + cryptography): issuer, audience, scope, expiry.

Faults (PUT /_control/faults, JSON): {"status_429": n} answers the next n API calls with 429 and
Retry-After: 1; {"status_503": n}; {"expire_token": true} revokes every access token (the next
call gets 401); {"fail_page": k} answers page k (1-based) of devices.list with 500 every time;
{"conflict": n} makes the next n policy patches find the policy changed by someone else (its
applications gain an app, its version moves) and answer 409 ABORTED; {"sneak_write": true}
changes the policy between the client's read and write without a 409 (the version moves by 2);
{"slow_ms": ms} delays every API answer. Page tokens change on every listing (a random nonce).

Devices: PUT /_control/devices with a list of Device objects, or --generate N --apps K for a
synthetic fleet built page by page (the benchmark), never held whole.
Usage: amapi_emulator.py --public-key key.pub --client-email X [--port 0]; prints "PORT n".
"""
import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import googleapiclient
import jwt

DOC_PATH = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache",
                        "documents", "androidmanagement.v1.json")
with open(DOC_PATH) as f:
    DOC = json.load(f)
SCHEMAS = DOC["schemas"]
GLOBAL_PARAMS = set(DOC.get("parameters", {}).keys())
SCOPE = "https://www.googleapis.com/auth/androidmanagement"


def check(value, schema, path, errors, request):
    """Validates `value` against a discovery schema; appends messages to errors."""
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"]]
    t = schema.get("type")
    if t == "object":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object")
            return
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        if props is not None:
            for k, v in value.items():
                if k in props:
                    check(v, props[k], f"{path}.{k}", errors, request)
                elif addl is not None:
                    check(v, addl, f"{path}.{k}", errors, request)
                else:
                    errors.append(f"{path}.{k}: unknown field")
            for k, p in props.items():
                if p.get("description", "").startswith("Required.") and k not in value:
                    errors.append(f"{path}.{k}: required field missing")
        elif addl is not None:
            for k, v in value.items():
                check(v, addl, f"{path}.{k}", errors, request)
    elif t == "array":
        if not isinstance(value, list):
            errors.append(f"{path}: expected an array")
            return
        for i, v in enumerate(value):
            check(v, schema["items"], f"{path}[{i}]", errors, request)
    elif t == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string")
            return
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{path}: {value!r} is not one of the enum values")
        fmt = schema.get("format")
        if fmt in ("int64", "uint64"):
            try:
                int(value)
            except ValueError:
                errors.append(f"{path}: {value!r} is not an int64 string")
        if fmt == "byte":
            try:
                base64.b64decode(value.replace("-", "+").replace("_", "/") + "==", validate=False)
            except Exception:  # noqa: BLE001
                errors.append(f"{path}: not base64")
    elif t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer")
    elif t == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{path}: expected a number")
    elif t == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected a boolean")
    elif t == "any" or t is None:
        pass


def method(*names):
    r = DOC
    for n in names[:-1]:
        r = r["resources"][n]
    return r["methods"][names[-1]]


M_DEVICES_LIST = method("enterprises", "devices", "list")
M_POLICY_GET = method("enterprises", "policies", "get")
M_POLICY_PATCH = method("enterprises", "policies", "patch")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.public_key = open(args.public_key).read()
        self.client_email = args.client_email
        self.enterprise = args.enterprise
        self.tokens = {}
        self.devices = []
        self.generate = args.generate
        self.apps = args.apps
        self.policies = {}
        self.faults = {}
        self.violations = []
        self.log = []
        self.lenient = False
        self.token_uri = None


def synth_device(enterprise, i, apps):
    reports = []
    for j in range(apps):
        reports.append({
            "packageName": f"com.example.app{j}",
            "versionName": f"1.{j}",
            "versionCode": 100 + j,
            "state": "INSTALLED",
            "applicationSource": "INSTALLED_FROM_PLAY_STORE",
            "signingKeyCertFingerprints": [hashlib.sha1(f"k{j}".encode()).hexdigest()],
        })
    if i % 10 == 0:
        reports.append({"packageName": "com.tencent.mm", "versionName": "8.0.40", "versionCode": 2400,
                        "state": "INSTALLED", "applicationSource": "INSTALLED_FROM_PLAY_STORE"})
    return {
        "name": f"{enterprise}/devices/d{i:07d}",
        "ownership": "COMPANY_OWNED",
        "managementMode": "DEVICE_OWNER",
        "state": "ACTIVE",
        "policyName": f"{enterprise}/policies/default",
        "hardwareInfo": {"model": "Pixel 8", "serialNumber": f"SN{i:07d}"},
        "applicationReports": reports,
    }


def make_handler(st: State):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send_json(self, code, obj, headers=None):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def violation(self, msgs):
            with st.lock:
                st.violations.extend(msgs)
            self.send_json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                           "message": "; ".join(msgs)}})

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_PUT(self):
            self.route("PUT")

        def do_PATCH(self):
            self.route("PATCH")

        def route(self, verb):
            u = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            raw = self.body()
            if u.path.startswith("/_control/"):
                return self.control(verb, u.path[len("/_control/"):], raw)
            if u.path == "/token" and verb == "POST":
                return self.token(raw)
            if not u.path.startswith("/v1/"):
                return self.send_json(404, {"error": {"code": 404, "message": "not found"}})
            with st.lock:
                st.log.append(f"{verb} {u.path}?{u.query}")
            auth = self.headers.get("Authorization", "")
            tok = auth[7:] if auth.startswith("Bearer ") else None
            with st.lock:
                exp = st.tokens.get(tok)
                if st.faults.pop("expire_token", False):
                    st.tokens.clear()
                    exp = None
            if exp is None or exp < time.time():
                return self.send_json(401, {"error": {"code": 401, "status": "UNAUTHENTICATED",
                                                      "message": "Request had invalid authentication credentials."}})
            with st.lock:
                slow = st.faults.get("slow_ms", 0)
                n429 = st.faults.get("status_429", 0)
                n503 = st.faults.get("status_503", 0)
                if n429:
                    st.faults["status_429"] = n429 - 1
                elif n503:
                    st.faults["status_503"] = n503 - 1
            if slow:
                time.sleep(slow / 1000)
            if n429:
                return self.send_json(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                                                      "message": "Quota exceeded"}}, {"Retry-After": "1"})
            if n503:
                return self.send_json(503, {"error": {"code": 503, "status": "UNAVAILABLE",
                                                      "message": "The service is currently unavailable."}})
            name = urllib.parse.unquote(u.path[len("/v1/"):])
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "enterprises" and parts[2] == "devices" and verb == "GET":
                return self.devices_list(name, query, parts)
            if len(parts) == 4 and parts[0] == "enterprises" and parts[2] == "policies":
                if verb == "GET":
                    return self.policy_get(name, query)
                if verb == "PATCH":
                    return self.policy_patch(name, query, raw)
            return self.send_json(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": name}})

        def check_params(self, m, query, path_params):
            errs = []
            for k, v in query.items():
                p = m["parameters"].get(k)
                if p is None and k not in GLOBAL_PARAMS:
                    errs.append(f"query parameter {k}: unknown")
                elif p is not None and p.get("location") != "query":
                    errs.append(f"query parameter {k}: is a {p.get('location')} parameter")
                elif p is not None and p.get("type") == "integer":
                    try:
                        int(v[0])
                    except ValueError:
                        errs.append(f"query parameter {k}: not an integer")
            import re
            for k, v in path_params.items():
                pat = m["parameters"][k].get("pattern")
                if pat and not re.match(pat, v):
                    errs.append(f"path parameter {k}: {v!r} does not match {pat}")
            return errs

        def respond_checked(self, schema_ref, obj):
            errs = []
            check(obj, {"$ref": schema_ref}, schema_ref, errs, False)
            if errs and not st.lenient:
                with st.lock:
                    st.violations.extend(["response: " + e for e in errs])
            self.send_json(200, obj)

        def devices_list(self, name, query, parts):
            errs = self.check_params(M_DEVICES_LIST, query, {"parent": "/".join(parts[:2])})
            if errs:
                return self.violation(errs)
            if "/".join(parts[:2]) != st.enterprise:
                return self.send_json(403, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "enterprise"}})
            size = min(int(query.get("pageSize", ["10"])[0]), 100)
            size = max(size, 1)
            offset = 0
            if "pageToken" in query:
                try:
                    offset = int(query["pageToken"][0].split(".")[0])
                except ValueError:
                    return self.send_json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad page token"}})
            page_no = offset // size + 1
            with st.lock:
                fail_page = st.faults.get("fail_page")
            if fail_page == page_no:
                return self.send_json(500, {"error": {"code": 500, "status": "INTERNAL", "message": "backend error"}})
            total = st.generate if st.generate else len(st.devices)
            if st.generate:
                # The synthetic fleet is written from a template (checked against the discovery
                # document at start-up), so the emulator is not the benchmark's bottleneck.
                parts = [st.template[i % 10 == 0].replace("\x00ID\x00", f"{i:07d}")
                         for i in range(offset, min(offset + size, total))]
                body = '{"devices":[' + ",".join(parts) + "]"
                if offset + size < total:
                    body += f',"nextPageToken":"{offset + size}.{secrets.token_hex(6)}"'
                body = (body + "}").encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            else:
                devs = st.devices[offset:offset + size]
            resp = {"devices": devs} if devs else {}
            if offset + size < total:
                # A different token at every listing: clients must not compare tokens.
                resp["nextPageToken"] = f"{offset + size}.{secrets.token_hex(6)}"
            if st.generate:
                self.send_json(200, resp)  # synthetic: checked once at start-up instead
            else:
                self.respond_checked("ListDevicesResponse", resp)

        def policy_get(self, name, query):
            errs = self.check_params(M_POLICY_GET, query, {"name": name})
            if errs:
                return self.violation(errs)
            with st.lock:
                p = st.policies.get(name)
                p = json.loads(json.dumps(p)) if p else None
            if p is None:
                return self.send_json(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": name}})
            self.respond_checked("Policy", p)

        def policy_patch(self, name, query, raw):
            errs = self.check_params(M_POLICY_PATCH, query, {"name": name})
            try:
                body = json.loads(raw)
            except ValueError:
                return self.violation(["request body: not JSON"])
            check(body, {"$ref": "Policy"}, "Policy", errs, True)
            if errs:
                return self.violation(errs)
            mask = query.get("updateMask", [None])[0]
            with st.lock:
                cur = st.policies.get(name) or {"name": name, "version": "0"}
                if st.faults.get("conflict", 0) > 0:
                    st.faults["conflict"] -= 1
                    cur.setdefault("applications", []).append(
                        {"packageName": f"com.other.admin{st.faults['conflict']}", "installType": "AVAILABLE"})
                    cur["version"] = str(int(cur.get("version", "0")) + 1)
                    st.policies[name] = cur
                    conflict = True
                else:
                    conflict = False
                if not conflict and st.faults.pop("sneak_write", False):
                    cur.setdefault("applications", []).append({"packageName": "com.other.sneaky", "installType": "AVAILABLE"})
                    cur["version"] = str(int(cur.get("version", "0")) + 1)
                if not conflict:
                    fields = mask.split(",") if mask else list(body.keys())
                    for f in fields:
                        if f in body:
                            cur[f] = body[f]
                        else:
                            cur.pop(f, None)
                    cur["name"] = name
                    cur["version"] = str(int(cur.get("version", "0")) + 1)
                    st.policies[name] = cur
                    out = json.loads(json.dumps(cur))
            if conflict:
                return self.send_json(409, {"error": {"code": 409, "status": "ABORTED",
                                                      "message": "The policy was modified concurrently."}})
            self.respond_checked("Policy", out)

        def token(self, raw):
            form = urllib.parse.parse_qs(raw.decode())
            if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
                return self.send_json(400, {"error": "unsupported_grant_type"})
            assertion = (form.get("assertion") or [""])[0]
            try:
                header = jwt.get_unverified_header(assertion)
                claims = jwt.decode(assertion, st.public_key, algorithms=["RS256"],
                                    audience=st.token_uri, issuer=st.client_email,
                                    options={"require": ["exp", "iat", "iss", "aud"]})
            except Exception as e:  # noqa: BLE001
                with st.lock:
                    st.log.append(f"token refused: {e}")
                return self.send_json(400, {"error": "invalid_grant", "error_description": str(e)})
            if header.get("alg") != "RS256" or claims.get("scope") != SCOPE:
                return self.send_json(400, {"error": "invalid_scope"})
            if claims["exp"] - claims["iat"] > 3600:
                return self.send_json(400, {"error": "invalid_grant", "error_description": "lifetime"})
            tok = "ya29." + secrets.token_urlsafe(24)
            with st.lock:
                st.tokens[tok] = time.time() + 3600
                st.log.append("token issued")
            self.send_json(200, {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})

        def control(self, verb, what, raw):
            with st.lock:
                if verb == "PUT" and what == "devices":
                    devs = json.loads(raw)
                    st.devices = devs
                elif verb == "PUT" and what == "faults":
                    st.faults.update(json.loads(raw))
                elif verb == "PUT" and what == "lenient":
                    st.lenient = json.loads(raw)
                elif verb == "PUT" and what.startswith("policies/"):
                    p = json.loads(raw)
                    errs = []
                    check(p, {"$ref": "Policy"}, "Policy", errs, False)
                    if errs:
                        st.violations.extend(["fixture: " + e for e in errs])
                    st.policies[what[len("policies/"):]] = p
                elif verb == "GET" and what.startswith("policies/"):
                    p = st.policies.get(what[len("policies/"):])
                    body = json.dumps(p).encode()
                    return self._raw(body)
                elif verb == "GET" and what == "violations":
                    return self._raw(json.dumps(st.violations).encode())
                elif verb == "GET" and what == "log":
                    return self._raw(json.dumps(st.log).encode())
                else:
                    return self._raw(b'"unknown control"', 404)
            self._raw(b"{}")

        def _raw(self, body, code=200):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--public-key", required=True)
    ap.add_argument("--client-email", required=True)
    ap.add_argument("--enterprise", default="enterprises/LC01test")
    ap.add_argument("--generate", type=int, default=0)
    ap.add_argument("--apps", type=int, default=150)
    args = ap.parse_args()
    st = State(args)
    if st.generate:
        errs = []
        check({"devices": [synth_device(st.enterprise, 0, st.apps)], "nextPageToken": "1.x"},
              {"$ref": "ListDevicesResponse"}, "ListDevicesResponse", errs, False)
        if errs:
            print("synthetic device fails the discovery document:", errs, file=sys.stderr)
            sys.exit(2)
    if st.generate:
        def templ(i):
            d = synth_device(st.enterprise, i, st.apps)
            return json.dumps(d, separators=(",", ":")).replace(f"{i:07d}", "\x00ID\x00")
        st.template = {False: templ(1), True: templ(0)}
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(st))
    srv.daemon_threads = True
    st.token_uri = f"http://127.0.0.1:{srv.server_address[1]}/token"
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
