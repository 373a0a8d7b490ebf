#!/usr/bin/env python3
"""A loopback emulator of Microsoft Graph (Intune) for interdict's connector tests.

Every request body is parsed, and every response body written, with the model classes of
Microsoft's Graph SDK for Python and its Kiota JSON serialization (JsonParseNodeFactory,
JsonSerializationWriterFactory). The connector calls Graph's /beta endpoint (v1.0 has no
iosCompliancePolicy.restrictedApps, no per-device detectedApps, no androidManagedStoreApp), so the
models are those of `msgraph-beta-sdk` (msgraph_beta.generated.models), the official SDK of that
endpoint; the v1.0 package `msgraph-sdk` models none of those properties.

Kiota's reader is lenient (an unknown property lands in additional_data; a wrong type or an
unknown enum value becomes None), so a body is accepted only when the SDK reads all of it: it is
parsed, every object's additional_data must be empty, and written back by the SDK, and every
property of the body must come back with the same value (times compared as instants). Anything
else is a violation: the request fails with 400 and the violation is listed at
GET /_control/violations, which the tests assert empty. Fixtures (devices, apps, policies) go
through the same check unless PUT /_control/lenient is true (the bad-item tests send values the
SDK cannot represent, as a broken or newer service would).

Token endpoint: POST /{tenant}/oauth2/v2.0/token, grant client_credentials, scope
https://graph.microsoft.com/.default; either client_secret (compared with --client-secret) or a
client assertion (RS256 JWT verified with PyJWT against the public key of --certificate, `x5t` =
its SHA-1 thumbprint, aud = the token URL, iss = sub = client id, exp and nbf, jti never reused).

Faults (PUT /_control/faults, JSON): status_429 (n answers with Retry-After: 1), status_503 (n),
expire_token (every token revoked: the next call gets 401), fail_page (page k of managedDevices
answers 500 every time), slow_ms (every Graph answer delayed), conflict (the next n writes answer
409). Every listing gets a fresh $skiptoken nonce, so the nextLink changes each time.
Usage: graph_emulator.py --tenant T --client-id C --client-secret S --certificate cert.pem;
prints "PORT n".
"""
import argparse
import base64
import datetime
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from kiota_serialization_json.json_serialization_writer_factory import JsonSerializationWriterFactory
from msgraph_beta.generated.device_app_management.mobile_apps.item.assign.assign_post_request_body import \
    AssignPostRequestBody as MobileAppAssignBody
from msgraph_beta.generated.device_management.device_compliance_policies.item.assign.assign_post_request_body import \
    AssignPostRequestBody as PolicyAssignBody
from msgraph_beta.generated.models.detected_app import DetectedApp
from msgraph_beta.generated.models.device_compliance_policy import DeviceCompliancePolicy
from msgraph_beta.generated.models.device_compliance_policy_assignment import DeviceCompliancePolicyAssignment
from msgraph_beta.generated.models.managed_device import ManagedDevice
from msgraph_beta.generated.models.mobile_app import MobileApp
from msgraph_beta.generated.models.mobile_app_assignment import MobileAppAssignment

from msgraph_beta.generated.models.entity import Entity

# Entity.get_field_deserializers (the base of every model) runs some 10,000 function-local
# `from .x import X` statements on every call (~50 ms): a page of devices would take seconds.
# The same two fields, without the imports; checked against the SDK's own at start-up.
_sdk_entity_fields = Entity.get_field_deserializers


def _entity_fields(self):
    return {
        "id": lambda n: setattr(self, "id", n.get_str_value()),
        "@odata.type": lambda n: setattr(self, "odata_type", n.get_str_value()),
    }


def _sdk_entity_field_names():
    # Read from the SDK's source rather than by calling it (which imports every model, ~8 s).
    import inspect
    import re
    src = inspect.getsource(_sdk_entity_fields)
    body = src[src.index("fields: dict"):src.index("return fields")]
    return set(re.findall(r'^\s*"([^"]+)": lambda', body, re.M))


assert _sdk_entity_field_names() == set(_entity_fields(Entity())), "Entity's fields changed"
Entity.get_field_deserializers = _entity_fields

SCOPE = "https://graph.microsoft.com/.default"
PARSE = JsonParseNodeFactory()
WRITE = JsonSerializationWriterFactory()
MAX_RESTRICTED_APPS = 100


def parse(cls, raw: bytes):
    return PARSE.get_root_parse_node("application/json", raw).get_object_value(cls)


def write(model) -> bytes:
    w = WRITE.get_serialization_writer("application/json")
    w.write_object_value(None, model)
    return w.get_serialized_content()


def leftovers(model, path, out):
    """Properties the SDK did not know (additional_data), anywhere in the model."""
    if isinstance(model, Parsable):
        for k in (getattr(model, "additional_data", None) or {}):
            out.append(f"{path}.{k}: not a property of {type(model).__name__}")
        for k, v in vars(model).items():
            if k != "additional_data":
                leftovers(v, f"{path}.{k}", out)
    elif isinstance(model, list):
        for i, v in enumerate(model):
            leftovers(v, f"{path}[{i}]", out)


def as_instant(s):
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def same(a, b, path, out):
    """Every property of the body `a` must come back as `b`."""
    if isinstance(a, dict):
        if not isinstance(b, dict):
            out.append(f"{path}: the SDK did not read this object")
            return
        for k, v in a.items():
            if v is None:
                continue
            if k not in b:
                out.append(f"{path}.{k}: the SDK could not read {json.dumps(v)[:80]}")
            else:
                same(v, b[k], f"{path}.{k}", out)
    elif isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            out.append(f"{path}: the SDK did not read this list whole")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]", out)
    elif isinstance(a, str) and isinstance(b, str) and a != b:
        ia, ib = as_instant(a), as_instant(b)
        if ia is None or ia != ib:
            out.append(f"{path}: {a!r} came back as {b!r}")
    elif isinstance(a, bool) != isinstance(b, bool) or (not isinstance(a, str) and a != b):
        out.append(f"{path}: {a!r} came back as {b!r}")


_BASES = {}


def read_only_read(model, k, v, odata_type):
    """Whether the SDK reads property `k` = `v` (a read-only property, which its writer omits):
    parsed alone, it must set an attribute."""
    probe_body = {k: v}
    if odata_type:
        probe_body["@odata.type"] = odata_type
    probe = parse(type(model), json.dumps(probe_body).encode())
    if getattr(probe, "additional_data", None):
        return False
    key = (type(model), odata_type)
    base = _BASES.get(key)
    if base is None:
        base = parse(type(model), json.dumps({"@odata.type": odata_type} if odata_type else {}).encode())
        _BASES[key] = base
    return any(x is not None and x != getattr(base, a, None)
               for a, x in vars(probe).items() if a not in ("additional_data", "odata_type"))


def sdk_read(cls, obj, path):
    """(model, violations): `obj` as the SDK reads it, and what it could not read.

    The body is parsed, every object's additional_data must be empty, and the SDK's writer must
    give every property back with its value; a read-only property (which the writer omits) must
    set an attribute of the model when parsed alone."""
    if not isinstance(obj, dict):
        return None, [f"{path}: not a JSON object"]
    raw = json.dumps(obj).encode()
    errs = []
    try:
        model = parse(cls, raw)
    except Exception as e:  # noqa: BLE001
        return None, [f"{path}: the SDK refused the body: {e}"]
    if model is None:
        return None, [f"{path}: the SDK read nothing"]
    leftovers(model, path, errs)
    if errs:
        return model, errs
    back = json.loads(write(model))
    for k, v in obj.items():
        if v is None:
            continue
        if k in back:
            same(v, back[k], f"{path}.{k}", errs)
        elif not read_only_read(model, k, v, obj.get("@odata.type")):
            errs.append(f"{path}.{k}: the SDK could not read {json.dumps(v)[:80]}")
    return model, errs


def sdk_write(cls, obj):
    """`obj` as the SDK's writer writes it, with the read-only properties it omits (checked
    readable by `sdk_read` when the fixture or request came in) added back."""
    out = json.loads(write(parse(cls, json.dumps(obj).encode())))
    for k, v in obj.items():
        if k not in out and v is not None:
            out[k] = v
    return out


def page_body(cls, items, link):
    body = {"value": [sdk_write(cls, x) for x in items]}
    if link:
        body["@odata.nextLink"] = link
    return json.dumps(body).encode()


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.tenant = args.tenant
        self.client_id = args.client_id
        self.client_secret = args.client_secret
        cert = x509.load_pem_x509_certificate(open(args.certificate, "rb").read())
        self.public_key = cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.x5t = base64.urlsafe_b64encode(
            hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest()).rstrip(b"=").decode()
        self.jtis = set()
        self.tokens = {}
        self.devices = []
        self.apps = {}
        self.policies = {}
        self.assignments = {}
        self.mobile_apps = {}
        self.app_assignments = {}
        self.faults = {}
        self.violations = []
        self.log = []
        self.lenient = False
        self.base = None
        self.apps_page = 40
        self.policies_page = 2


def make_handler(st: State):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, code, body: bytes = b"", headers=None):
            self.send_response(code)
            if body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def error(self, code, gcode, message, headers=None):
            self.send(code, json.dumps({"error": {"code": gcode, "message": message}}).encode(), headers)

        def violation(self, msgs):
            with st.lock:
                st.violations.extend(msgs)
            self.error(400, "BadRequest", "; ".join(msgs))

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

        def do_DELETE(self):
            self.route("DELETE")

        def route(self, verb):
            u = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            raw = self.body()
            if u.path.startswith("/_control/"):
                return self.control(verb, u.path[len("/_control/"):], raw)
            if u.path == f"/{st.tenant}/oauth2/v2.0/token" and verb == "POST":
                return self.token(raw)
            if not u.path.startswith("/beta/"):
                return self.error(404, "NotFound", "unknown endpoint")
            with st.lock:
                st.log.append(f"{verb} {u.path}")
            auth = self.headers.get("Authorization", "")
            tok = auth[7:] if auth.startswith("Bearer ") else None
            with st.lock:
                exp = st.tokens.get(tok)
                if st.faults.pop("expire_token", False):
                    st.tokens.clear()
                    exp = None
            if exp is None or exp < time.time():
                return self.error(401, "InvalidAuthenticationToken",
                                  "Access token has expired or is not yet valid.")
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
                return self.error(429, "TooManyRequests", "Too many requests", {"Retry-After": "1"})
            if n503:
                return self.error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
            parts = [urllib.parse.unquote(p) for p in u.path[len("/beta/"):].split("/")]
            if verb in ("POST", "PATCH") and parts[-1] in ("assign",) or verb == "PATCH":
                with st.lock:
                    n = st.faults.get("conflict", 0)
                    if n:
                        st.faults["conflict"] = n - 1
                if n:
                    return self.error(409, "Conflict", "The object was modified concurrently.")
            try:
                return self.graph(verb, parts, query, raw)
            except Exception as e:  # noqa: BLE001
                with st.lock:
                    st.violations.append(f"emulator error on {verb} {u.path}: {e!r}")
                return self.error(500, "InternalServerError", repr(e))

        def next_link(self, path, offset, total, size, extra=""):
            if offset + size >= total:
                return None
            return f"{st.base}{path}?{extra}$skiptoken={offset + size}.{secrets.token_hex(6)}"

        def offset(self, query):
            if "$skiptoken" not in query:
                return 0
            try:
                return int(query["$skiptoken"][0].split(".")[0])
            except ValueError:
                return -1

        def graph(self, verb, parts, query, raw):
            dm = parts[0] == "deviceManagement"
            da = parts[0] == "deviceAppManagement"
            if dm and parts[1:] == ["managedDevices"] and verb == "GET":
                return self.devices_list(query)
            if dm and len(parts) == 4 and parts[1] == "managedDevices" and parts[3] == "detectedApps" and verb == "GET":
                return self.detected_apps(parts[2], query)
            if dm and parts[1:2] == ["deviceCompliancePolicies"]:
                return self.policies(verb, parts[2:], query, raw)
            if da and parts[1:2] == ["mobileApps"]:
                return self.mobile_apps(verb, parts[2:], query, raw)
            return self.error(404, "ResourceNotFound", "/".join(parts))

        def check_query(self, query, allowed):
            errs = [f"query parameter {k}: not supported here" for k in query if k not in allowed]
            if errs:
                self.violation(errs)
                return False
            return True

        def devices_list(self, query):
            if not self.check_query(query, {"$top", "$select", "$skiptoken"}):
                return None
            try:
                size = int(query.get("$top", ["100"])[0])
            except ValueError:
                return self.violation(["$top: not an integer"])
            if not 1 <= size <= 1000:
                return self.violation([f"$top {size}: not 1 to 1000"])
            known = set(ManagedDevice().get_field_deserializers().keys())
            select = query.get("$select", [""])[0]
            bad = [f for f in select.split(",") if f and f not in known]
            if bad:
                return self.violation([f"$select {f}: not a property of managedDevice" for f in bad])
            off = self.offset(query)
            if off < 0:
                return self.error(400, "BadRequest", "bad $skiptoken")
            page_no = off // size + 1
            with st.lock:
                fail_page = st.faults.get("fail_page")
                devs = st.devices[off:off + size]
                total = len(st.devices)
            if fail_page == page_no:
                return self.error(500, "InternalServerError", "backend error")
            extra = f"$top={size}&" + (f"$select={select}&" if select else "")
            link = self.next_link("/beta/deviceManagement/managedDevices", off, total, size, extra)
            if st.lenient:
                body = {"value": devs}
                if link:
                    body["@odata.nextLink"] = link
                return self.send(200, json.dumps(body).encode())
            return self.send(200, page_body(ManagedDevice, devs, link))

        def detected_apps(self, dev_id, query):
            if not self.check_query(query, {"$skiptoken"}):
                return None
            with st.lock:
                if not any(d.get("id") == dev_id for d in st.devices):
                    return self.error(404, "ResourceNotFound", f"managedDevice {dev_id}")
                apps = list(st.apps.get(dev_id, []))
            off = self.offset(query)
            size = st.apps_page
            page = apps[off:off + size]
            link = self.next_link(f"/beta/deviceManagement/managedDevices/{dev_id}/detectedApps",
                                  off, len(apps), size)
            if st.lenient:
                body = {"value": page}
                if link:
                    body["@odata.nextLink"] = link
                return self.send(200, json.dumps(body).encode())
            return self.send(200, page_body(DetectedApp, page, link))

        def policies(self, verb, rest, query, raw):
            if not rest and verb == "GET":
                if not self.check_query(query, {"$skiptoken"}):
                    return None
                with st.lock:
                    items = list(st.policies.values())
                off = self.offset(query)
                size = st.policies_page
                link = self.next_link("/beta/deviceManagement/deviceCompliancePolicies", off,
                                      len(items), size)
                return self.send(200, page_body(DeviceCompliancePolicy, items[off:off + size], link))
            if not rest and verb == "POST":
                body = json.loads(raw or b"null")
                model, errs = sdk_read(DeviceCompliancePolicy, body, "request")
                if not errs and type(model).__name__ != "IosCompliancePolicy":
                    errs.append("request: not an iosCompliancePolicy")
                if not errs and not body.get("scheduledActionsForRule"):
                    errs.append("request: a compliance policy is created with scheduledActionsForRule (Graph requires it)")
                if not errs and len(body.get("restrictedApps") or []) > MAX_RESTRICTED_APPS:
                    errs.append(f"request.restrictedApps: more than {MAX_RESTRICTED_APPS} apps")
                if errs:
                    return self.violation(errs)
                pid = str(uuid.uuid4())
                now = datetime.datetime.now(datetime.timezone.utc).isoformat()
                stored = {k: v for k, v in body.items() if k != "scheduledActionsForRule"}
                stored.update({"id": pid, "createdDateTime": now, "lastModifiedDateTime": now, "version": 1})
                with st.lock:
                    st.policies[pid] = stored
                    st.assignments[pid] = []
                return self.send(201, json.dumps(sdk_write(DeviceCompliancePolicy, stored)).encode())
            if not rest:
                return self.error(405, "MethodNotAllowed", verb)
            pid = rest[0]
            with st.lock:
                cur = st.policies.get(pid)
            if cur is None:
                return self.error(404, "ResourceNotFound", f"deviceCompliancePolicy {pid}")
            if len(rest) == 1 and verb == "GET":
                return self.send(200, json.dumps(sdk_write(DeviceCompliancePolicy, cur)).encode())
            if len(rest) == 1 and verb == "PATCH":
                body = json.loads(raw or b"null")
                _, errs = sdk_read(DeviceCompliancePolicy, body, "request")
                if not errs and body.get("@odata.type") != cur.get("@odata.type"):
                    errs.append("request: @odata.type differs from the policy's")
                if not errs and len(body.get("restrictedApps") or []) > MAX_RESTRICTED_APPS:
                    errs.append(f"request.restrictedApps: more than {MAX_RESTRICTED_APPS} apps")
                if errs:
                    return self.violation(errs)
                with st.lock:
                    cur.update(body)
                    cur["version"] = cur.get("version", 1) + 1
                    cur["lastModifiedDateTime"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
                return self.send(204)
            if len(rest) == 1 and verb == "DELETE":
                with st.lock:
                    st.policies.pop(pid, None)
                    st.assignments.pop(pid, None)
                return self.send(204)
            if rest[1:] == ["assignments"] and verb == "GET":
                with st.lock:
                    items = list(st.assignments.get(pid, []))
                return self.send(200, page_body(DeviceCompliancePolicyAssignment, items, None))
            if rest[1:] == ["assign"] and verb == "POST":
                body = json.loads(raw or b"null")
                _, errs = sdk_read(PolicyAssignBody, body, "request")
                if errs:
                    return self.violation(errs)
                items = []
                for a in body.get("assignments") or []:
                    a = dict(a)
                    a["id"] = f"{pid}_{a['target'].get('groupId', 'all')}"
                    items.append(a)
                with st.lock:
                    st.assignments[pid] = items
                return self.send(200, page_body(DeviceCompliancePolicyAssignment, items, None))
            return self.error(404, "ResourceNotFound", "/".join(rest))

        def mobile_apps(self, verb, rest, query, raw):
            if not rest and verb == "GET":
                if not self.check_query(query, {"$skiptoken"}):
                    return None
                with st.lock:
                    items = list(st.mobile_apps.values())
                off = self.offset(query)
                size = 2
                link = self.next_link("/beta/deviceAppManagement/mobileApps", off, len(items), size)
                return self.send(200, page_body(MobileApp, items[off:off + size], link))
            if not rest:
                return self.error(405, "MethodNotAllowed", verb)
            aid = rest[0]
            with st.lock:
                if aid not in st.mobile_apps:
                    return self.error(404, "ResourceNotFound", f"mobileApp {aid}")
            if rest[1:] == ["assignments"] and verb == "GET":
                with st.lock:
                    items = list(st.app_assignments.get(aid, []))
                return self.send(200, page_body(MobileAppAssignment, items, None))
            if rest[1:] == ["assign"] and verb == "POST":
                body = json.loads(raw or b"null")
                _, errs = sdk_read(MobileAppAssignBody, body, "request")
                if errs:
                    return self.violation(errs)
                items = []
                for i, a in enumerate(body.get("mobileAppAssignments") or []):
                    a = dict(a)
                    a["id"] = f"{aid}_{i}"
                    items.append(a)
                with st.lock:
                    st.app_assignments[aid] = items
                return self.send(204)
            return self.error(404, "ResourceNotFound", "/".join(rest))

        def token(self, raw):
            form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            token_url = f"{st.base}/{st.tenant}/oauth2/v2.0/token"

            def refuse(code, err, desc):
                with st.lock:
                    st.log.append(f"token refused: {desc}")
                return self.send(code, json.dumps({"error": err, "error_description": desc}).encode())

            if form.get("grant_type") != "client_credentials":
                return refuse(400, "unsupported_grant_type", "AADSTS70003: grant_type must be client_credentials")
            if form.get("scope") != SCOPE:
                return refuse(400, "invalid_scope", f"AADSTS70011: scope must be {SCOPE}")
            if form.get("client_id") != st.client_id:
                return refuse(400, "unauthorized_client", "AADSTS700016: application not found in the directory")
            if "client_secret" in form:
                if not secrets.compare_digest(form["client_secret"], st.client_secret):
                    return refuse(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
            elif form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                a = form.get("client_assertion", "")
                try:
                    header = jwt.get_unverified_header(a)
                    claims = jwt.decode(a, st.public_key, algorithms=["RS256"], audience=token_url,
                                        issuer=st.client_id,
                                        options={"require": ["exp", "nbf", "iss", "sub", "aud", "jti"]})
                except Exception as e:  # noqa: BLE001
                    return refuse(401, "invalid_client", f"AADSTS700027: Client assertion failed signature validation: {e}")
                if header.get("x5t") != st.x5t:
                    return refuse(401, "invalid_client", "AADSTS700027: x5t is not the thumbprint of a registered certificate")
                if claims.get("sub") != st.client_id:
                    return refuse(401, "invalid_client", "AADSTS700023: sub is not the client id")
                if claims["exp"] - claims["nbf"] > 3600:
                    return refuse(401, "invalid_client", "AADSTS700024: assertion lifetime too long")
                with st.lock:
                    if claims["jti"] in st.jtis:
                        return refuse(401, "invalid_client", "AADSTS700025: assertion replayed (jti)")
                    st.jtis.add(claims["jti"])
            else:
                return refuse(401, "invalid_client", "AADSTS7000218: client_secret or client_assertion required")
            tok = "eyJ0eXAi." + secrets.token_urlsafe(24)
            with st.lock:
                st.tokens[tok] = time.time() + 3600
                st.log.append("token issued")
            self.send(200, json.dumps({"token_type": "Bearer", "expires_in": 3599,
                                       "ext_expires_in": 3599, "access_token": tok}).encode())

        def fixture(self, cls, items, what):
            if st.lenient:
                return
            for i, x in enumerate(items):
                _, errs = sdk_read(cls, x, f"fixture {what}[{i}]")
                st.violations.extend(errs)

        def control(self, verb, what, raw):
            with st.lock:
                if verb == "PUT" and what == "devices":
                    st.devices = json.loads(raw)
                    self.fixture(ManagedDevice, st.devices, "devices")
                elif verb == "PUT" and what == "apps":
                    st.apps = json.loads(raw)
                    for k, v in st.apps.items():
                        self.fixture(DetectedApp, v, f"apps {k}")
                elif verb == "PUT" and what == "faults":
                    st.faults.update(json.loads(raw))
                elif verb == "PUT" and what == "lenient":
                    st.lenient = json.loads(raw)
                elif verb == "PUT" and what == "policies":
                    items = json.loads(raw)
                    self.fixture(DeviceCompliancePolicy, items, "policies")
                    st.policies = {p["id"]: p for p in items}
                    st.assignments = {p["id"]: [] for p in items}
                elif verb == "PUT" and what == "mobile_apps":
                    items = json.loads(raw)
                    self.fixture(MobileApp, [a["app"] for a in items], "mobile_apps")
                    st.mobile_apps = {a["app"]["id"]: a["app"] for a in items}
                    st.app_assignments = {a["app"]["id"]: a.get("assignments", []) for a in items}
                elif verb == "GET" and what == "policies":
                    out = [dict(p, assignments=st.assignments.get(p["id"], [])) for p in st.policies.values()]
                    return self._raw(json.dumps(out).encode())
                elif verb == "GET" and what == "mobile_apps":
                    out = [dict(a, assignments=st.app_assignments.get(a["id"], [])) for a in st.mobile_apps.values()]
                    return self._raw(json.dumps(out).encode())
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
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--certificate", required=True)
    args = ap.parse_args()
    st = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(st))
    srv.daemon_threads = True
    st.base = f"http://127.0.0.1:{srv.server_address[1]}"
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
