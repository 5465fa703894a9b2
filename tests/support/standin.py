"""A stand-in for the remote ArcGIS services the task types call, over real HTTPS.

``StandIn`` is a threaded HTTPS server on 127.0.0.1 with a throwaway self-signed certificate
(``cert_file``, which a test makes trusted through ``GISTASKS_REMOTE_CA_FILE``). It serves:

* a hosting server at ``/server``: the ``System/SceneCachingControllers`` GP task ``Manage
  Scene Cache`` (``submitJob``, ``jobs/<id>``, ``jobs/<id>/cancel``), Workflow Manager's
  ``POST /server/workflow/<item>/jobTemplates/<template>/job``, and feature layers'
  ``POST /server/rest/services/<name>/FeatureServer/<n>/query``;
* a portal at ``/portal``: ``sharing/rest/generateToken``.

Every request is recorded (``received``) and checked against the documented shape: the form
fields of each operation, ``f=json``, the JSON body of Workflow Manager, and the token, which
must come in the ``X-Esri-Authorization: Bearer`` header and nowhere else (never in a URL, a
form field or a body). A request that breaks the shape is answered with an error and noted in
``problems``, which a test's fixture asserts is empty. A request without the right token is
answered as ArcGIS does (error 498), which is behaviour, not a problem.

What it answers is chosen per test: ``scene`` (``success``, ``failure``: esriJobFailed with
an error message, ``slow``: executing for ``slow_s`` seconds, ``refuse``: an error answer to
submitJob, ``malformed``: an HTML page), ``workflow`` (``success``, ``error``: HTTP 400 with
an error body, ``error200``: an error body with HTTP 200, ``malformed``), ``layers`` (the
features of each layer, paged ``max_record_count`` at a time) and ``failing_layers``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOOL = "/server/rest/services/System/SceneCachingControllers/GPServer/Manage Scene Cache"
"""The Manage Scene Cache task (decoded path)."""
GENERATE_TOKEN = "/portal/sharing/rest/generateToken"
SCENE_INPUTS = {"service_url", "num_of_caching_service_instances", "layer", "update_mode",
                "update_extent", "area_of_interest"}
UPDATE_MODES = {"RECREATE_EMPTY_NODES", "RECREATE_ALL_NODES", "PARTIAL_UPDATE_NODES",
                "PARTIAL_UPDATE_ATTRIBUTES"}
WM_FIELDS = {"numberOfJobs", "jobName", "startDate", "dueDate", "priority", "description",
             "ownedBy", "assignedType", "assignedTo", "percentComplete", "notes", "parentJob",
             "location", "extendedProperties", "relatedProperties", "jobId"}
INVALID_TOKEN = {"error": {"code": 498, "message": "Invalid token.", "details": []}}
FIELDS = [{"name": "OBJECTID", "type": "esriFieldTypeOID", "alias": "OBJECTID"},
          {"name": "NAME", "type": "esriFieldTypeString", "alias": "Name"}]


@dataclass(frozen=True)
class Received:
    """One request as the stand-in got it (the path decoded)."""

    method: str
    path: str
    target: str
    """The request target as sent (percent-encoded, with its query)."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    form: dict[str, list[str]]
    body: Any = None
    """The JSON body, if the request had one."""

    def field(self, name: str) -> str:
        """The one value of a form field ('' if absent)."""
        return (self.form.get(name) or [""])[0]


@dataclass
class Job:
    id: str
    behaviour: str
    started: float = field(default_factory=time.monotonic)
    polls: int = 0
    cancelled: bool = False


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (a service that cannot be reached)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gistasks stand-in")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "standin-cert.pem", directory / "standin-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


Answer = tuple[int, Any]
"""An HTTP status and a JSON value (``bytes`` are sent as an HTML page)."""


class StandIn:
    """The remote services of another ArcGIS deployment, for one test."""

    def __init__(self, directory: Path) -> None:
        self.cert_file, key_file = write_certificate(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, key_file)
        self._server = _Server(self, context)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._lock = threading.Lock()
        self.token = "standin-token-" + secrets.token_hex(8)
        self.users = {"erin": "erins portal pass 1"}
        self.require_token = True
        self.scene = "success"
        self.slow_s = 1.0
        self.workflow = "success"
        self.templates = {"tplA1"}
        self.layers: dict[str, list[dict[str, Any]]] = {}
        self.failing_layers: set[str] = set()
        self.max_record_count = 2
        self.received: list[Received] = []
        self.problems: list[str] = []
        self.jobs: dict[str, Job] = {}
        self.generated: dict[str, str] = {}
        """Tokens generated by the portal, with the referer each is bound to."""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def hosting_url(self) -> str:
        return f"{self.url}/server"

    @property
    def portal_url(self) -> str:
        return f"{self.url}/portal"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def requests(self, path_end: str, method: str = "") -> list[Received]:
        """The requests received whose decoded path ends with ``path_end``."""
        with self._lock:
            return [r for r in self.received if r.path.endswith(path_end)
                    and (not method or r.method == method)]

    # -- the request loop ----------------------------------------------------------------------

    def answer(self, request: Received) -> Answer:
        with self._lock:
            self.received.append(request)
        self._no_token_outside_the_header(request)
        path = request.path
        if path == GENERATE_TOKEN:
            return self._generate_token(request)
        if path == f"{TOOL}/submitJob":
            return self._submit(request)
        if path.startswith(f"{TOOL}/jobs/"):
            return self._job(request, path.removeprefix(f"{TOOL}/jobs/"))
        if path.startswith("/server/workflow/") and path.endswith("/job"):
            return self._create_jobs(request)
        if path.startswith("/server/rest/services/") and path.endswith("/query"):
            return self._query(request)
        return 404, {"error": {"code": 404, "message": f"Not found: {path}"}}

    def _problem(self, request: Received, message: str) -> Answer:
        with self._lock:
            self.problems.append(f"{request.method} {request.path}: {message}")
        return 400, {"error": {"code": 400, "message": f"stand-in: {message}", "details": []}}

    def _no_token_outside_the_header(self, request: Received) -> None:
        places = {"the URL": request.query, "the form": request.form,
                  "the body": request.body if isinstance(request.body, dict) else {}}
        for where, values in places.items():
            if "token" in values:
                self._problem(request, f"a token was sent in {where}")
        with self._lock:
            known = [self.token, *self.generated]
        if any(t in request.target for t in known):
            self._problem(request, "a token is in the request's URL")

    def _authorised(self, request: Received) -> bool:
        if not self.require_token:
            return True
        given = request.headers.get("x-esri-authorization", "")
        if given == f"Bearer {self.token}":
            return True
        token = given.removeprefix("Bearer ")
        with self._lock:
            referer = self.generated.get(token)
        return referer is not None and request.headers.get("referer") == referer

    def _fields(self, request: Received, allowed: set[str], required: set[str]) -> str:
        """What is wrong with a form's fields ('' if nothing)."""
        if not request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            return f"the body is not a form ({request.headers.get('content-type')!r})"
        if request.query:
            return f"the operation's fields are in the URL: {sorted(request.query)}"
        extra = request.form.keys() - allowed
        if extra:
            return f"fields that are not the operation's: {sorted(extra)}"
        missing = required - request.form.keys()
        if missing:
            return f"required fields are missing: {sorted(missing)}"
        repeated = [k for k, v in request.form.items() if len(v) != 1]
        if repeated:
            return f"fields given more than once: {repeated}"
        if request.field("f") != "json":
            return f"f is {request.field('f')!r}, not 'json'"
        return ""

    # -- the portal ----------------------------------------------------------------------------

    def _generate_token(self, r: Received) -> Answer:
        wrong = self._fields(r, {"username", "password", "client", "referer", "expiration",
                                 "f"}, {"username", "password", "client", "referer", "f"})
        if wrong:
            return self._problem(r, wrong)
        if r.field("client") != "referer" or not r.field("referer"):
            return self._problem(r, "client must be 'referer' with a referer")
        if r.field("expiration") and not r.field("expiration").isdigit():
            return self._problem(r, "expiration must be minutes")
        if self.users.get(r.field("username")) != r.field("password"):
            return 200, {"error": {"code": 400, "message": "Unable to generate token.",
                                   "details": ["Invalid username or password."]}}
        token = "generated-" + secrets.token_hex(12)
        with self._lock:
            self.generated[token] = r.field("referer")
        return 200, {"token": token, "expires": int(time.time() * 1000) + 3_600_000,
                     "ssl": True}

    # -- Manage Scene Cache --------------------------------------------------------------------

    def _submit(self, r: Received) -> Answer:
        wrong = self._fields(r, SCENE_INPUTS | {"f"}, {"service_url", "layer", "update_mode",
                                                       "f"})
        if not wrong:
            wrong = self._scene_inputs(r)
        if wrong:
            return self._problem(r, wrong)
        if not self._authorised(r):
            return 200, INVALID_TOKEN
        if self.scene == "refuse":
            return 200, {"error": {"code": 400, "message": "Unable to submit the job.",
                                   "details": ["The scene service is being cached."]}}
        if self.scene == "malformed":
            return 200, b"<html><body>502 Bad Gateway</body></html>"
        job = Job("j" + secrets.token_hex(16), self.scene)
        with self._lock:
            self.jobs[job.id] = job
        return 200, {"jobId": job.id, "jobStatus": "esriJobSubmitted"}

    @staticmethod
    def _scene_inputs(r: Received) -> str:
        url = r.field("service_url")
        if not (url.startswith("https://") and ("/SceneServer" in url)):
            return f"service_url {url!r} is not a scene service"
        count = r.field("num_of_caching_service_instances")
        if count and not (count.isdigit() and int(count) > 0):
            return f"num_of_caching_service_instances {count!r} is not a positive integer"
        if r.field("update_mode") not in UPDATE_MODES:
            return f"update_mode {r.field('update_mode')!r} is not one of the choices"
        for name in ("layer", "area_of_interest"):
            if name in r.form:
                try:
                    json.loads(r.field(name))
                except ValueError:
                    return f"{name} {r.field(name)!r} is not JSON"
        if "update_extent" in r.form and not r.field("update_extent"):
            return "update_extent is empty"
        return ""

    def _job(self, r: Received, rest: str) -> Answer:
        job_id, _, action = rest.partition("/")
        if r.method != "GET" or r.query.get("f") != ["json"]:
            return self._problem(r, "a job is read with GET and f=json")
        if not self._authorised(r):
            return 200, INVALID_TOKEN
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return 200, {"error": {"code": 400, "message": "Invalid job id"}}
            if action == "cancel":
                job.cancelled = True
                return 200, {"jobId": job.id, "jobStatus": "esriJobCancelling"}
            job.polls += 1
        status, messages = "esriJobSucceeded", [
            {"type": "esriJobMessageTypeInformative", "description": "Cooking the cache."}]
        if job.cancelled:
            status = "esriJobCancelled"
        elif job.behaviour == "failure":
            status = "esriJobFailed"
            messages.append({"type": "esriJobMessageTypeError",
                             "description": "Cooking failed: the layer has no features."})
        elif job.behaviour == "slow" and time.monotonic() - job.started < self.slow_s:
            status = "esriJobExecuting"
        answer: dict[str, Any] = {"jobId": job.id, "jobStatus": status, "messages": messages}
        if status == "esriJobSucceeded":
            answer["results"] = {"out_service_url": {"paramUrl": "results/out_service_url"}}
        return 200, answer

    # -- Workflow Manager ----------------------------------------------------------------------

    def _create_jobs(self, r: Received) -> Answer:
        parts = r.path.split("/")  # /server/workflow/<item>/jobTemplates/<template>/job
        if r.method != "POST" or len(parts) != 7 or parts[4] != "jobTemplates":
            return self._problem(r, "jobs are created by POST <wm>/workflow/<item>/"
                                 "jobTemplates/<template>/job")
        if not r.headers.get("content-type", "").startswith("application/json"):
            return self._problem(r, "the body of Create jobs is JSON")
        body = r.body
        if not isinstance(body, dict):
            return self._problem(r, "the body is not a JSON object")
        extra = body.keys() - WM_FIELDS
        if extra:
            return self._problem(r, f"fields that are not Create jobs': {sorted(extra)}")
        count = body.get("numberOfJobs", 1)
        if not (isinstance(count, int) and 1 <= count <= 10_000):
            return self._problem(r, f"numberOfJobs {count!r} is not from 1 to 10000")
        if body.get("assignedType", "User") not in ("User", "Group", "Unassigned"):
            return self._problem(r, f"assignedType {body['assignedType']!r}")
        if not self._authorised(r):
            return 401, {"error": {"code": 401, "message": "Unauthorized", "details": []}}
        if self.workflow == "malformed":
            return 200, b"<html>maintenance</html>"
        if self.workflow in ("error", "error200") or parts[5] not in self.templates:
            error = {"error": {"code": 400, "message": "Job template is not active.",
                               "details": [f"Template {parts[5]} cannot create jobs."]}}
            return (200 if self.workflow == "error200" else 400), error
        return 200, {"jobIds": ["J" + secrets.token_hex(10) for _ in range(count)]}

    # -- feature layers ------------------------------------------------------------------------

    def _query(self, r: Received) -> Answer:
        wrong = self._fields(r, set(r.form) - {"token"}, {"f", "where"})
        if wrong:
            return self._problem(r, wrong)
        if not self._authorised(r):
            return 200, INVALID_TOKEN
        layer = r.path.removeprefix("/server/rest/services/").removesuffix("/query")
        if layer in self.failing_layers:
            return 200, {"error": {"code": 400, "message": "Unable to complete operation.",
                                   "details": ["Invalid query parameters."]}}
        if layer not in self.layers:
            return 200, {"error": {"code": 400, "message": "Invalid URL", "details": []}}
        features = self.layers[layer]
        offset = int(r.field("resultOffset") or 0)
        count = int(r.field("resultRecordCount") or self.max_record_count)
        page = features[offset:offset + count]
        return 200, {"objectIdFieldName": "OBJECTID", "geometryType": "esriGeometryPoint",
                     "spatialReference": {"wkid": 4326}, "fields": FIELDS, "features": page,
                     "exceededTransferLimit": offset + count < len(features)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: StandIn, context: ssl.SSLContext) -> None:
        self.standin = standin
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens in the request's thread, not in the accepting loop.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the certificate, or went away
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        kind = headers.get("content-type", "")
        form = parse_qs(raw.decode(), keep_blank_values=True) \
            if kind.startswith("application/x-www-form-urlencoded") else {}
        body = None
        if kind.startswith("application/json"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        request = Received(self.command, unquote(parts.path), self.path,
                           parse_qs(parts.query, keep_blank_values=True), headers, form, body)
        status, answer = self.server.standin.answer(request)
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if isinstance(answer, bytes)
                         else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
