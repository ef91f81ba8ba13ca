"""FakeHarbor: an in-process HTTP(S) server on 127.0.0.1 that imitates the parts of Harbor's
REST API v2.0 our Harbor providers use. It is a test double, not Harbor.

Implemented, and nothing else (any other path answers 404 like an unknown route):
  POST/GET/PUT/DELETE /projects[/{project_name_or_id}]   (X-Is-Resource-Name honoured)
  DELETE /projects/{project_name_or_id}/metadatas/{meta_name}
  GET /projects/{project_name}/repositories, DELETE .../repositories/{repository_name}
  GET /quotas?reference=project&reference_id=N, PUT /quotas/{id}
  POST /robots, GET /robots?q=Level=project,ProjectID=N, GET/PUT/PATCH/DELETE /robots/{id}
  POST /labels, GET /labels?scope=p&project_id=N[&name=...]
  POST /retentions, GET/PUT/DELETE /retentions/{id}
  GET/POST /projects/{p}/immutabletagrules, PUT/DELETE .../immutabletagrules/{id}

It checks request payloads the way Harbor does for the fields the providers send, with
Harbor's status codes and `{"errors": [{"code", "message"}]}` bodies: Basic auth; project
and robot name rules; metadata values are strings and booleans are "true"/"false"; a
storage limit is -1 or > 0; robot duration, level, permissions (one project, existing,
non-empty access); a retention policy's algorithm, rules (at most 15, known templates and
their parameters, doublestar selectors), trigger and scope, one policy per project; an
update of a retention policy must target the project's bound policy; immutable rules
must not be duplicates; a project with repositories cannot be deleted; nested repository
names must be double-encoded in the path. It also keeps Harbor's quirks: robots are named
robot$<project>+<name> and their secret is returned only at creation; GET of a missing
retention policy is a 500 and DELETE of one a 400; deleting a retention policy leaves
the project's retention_id behind; a new immutable rule is always enabled and an update
that changes `disabled` only toggles it.

Where it is stricter than Harbor, it says so: unknown JSON fields are rejected (Harbor
silently ignores them, which would hide a misspelt field), severity and boolean metadata
values are checked against the values the API documents, robot permissions must be one of
ROBOT_ACCESS, and cron expressions must have six fields.

Tests can inject failures (`fail`, `stall`), seed repositories and edit state out of band.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API = "/api/v2.0"
GIB = 1024**3
MAX_INT32 = 2**31 - 1
NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
BOOL_METADATA = ("public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul", "auto_scan",
                 "auto_sbom_generation", "reuse_sys_cve_allowlist")  # fmt: skip
METADATA_KEYS = (*BOOL_METADATA, "severity", "retention_id", "proxy_speed_kb", "max_upstream_conn")
SEVERITIES = ("none", "low", "medium", "high", "critical")
ROBOT_ACCESS = {
    "repository": {"pull", "push", "delete", "list", "read", "update"},
    "artifact": {"read", "list", "delete", "create"},
    "tag": {"create", "delete", "list"},
    "artifact-label": {"create", "delete"},
    "scan": {"create", "stop", "read"},
    "sbom": {"create", "stop", "read"},
}
RETENTION_TEMPLATES = {
    "latestPushedK": True,
    "latestPulledN": True,
    "nDaysSinceLastPush": True,
    "nDaysSinceLastPull": True,
    "always": False,
}
DEFAULT_ROBOT_DAYS = 30


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def internal() -> ApiError:
    # Harbor hides the cause of every 5xx behind this message.
    return ApiError(500, "UNKNOWN", "internal server error")


def _type_ok(value: Any, expected: type | tuple[type, ...]) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) and bool not in (expected if isinstance(expected, tuple) else (expected,)):
        return False
    return isinstance(value, expected)


def fields(body: Any, schema: Mapping[str, type | tuple[type, ...]], where: str) -> dict[str, Any]:
    """`body` as an object whose keys are in `schema`, each of its type (None allowed)."""
    if not isinstance(body, dict):
        raise bad(f"{where}: must be a JSON object")
    unknown = sorted(set(body) - set(schema))
    if unknown:
        raise bad(f"{where}: unknown field(s) {', '.join(unknown)}")
    for key, expected in schema.items():
        if key in body and not _type_ok(body[key], expected):
            raise bad(
                f"parsing {where}.{key} failed: cannot unmarshal {type(body[key]).__name__} into {expected}"
            )
    return body


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _secret() -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(32))
        if (
            any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    times: int
    status: int = 0
    seconds: float = 0.0


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., tuple[int, Any, dict[str, str]]]


@dataclass
class State:
    projects: dict[int, dict[str, Any]] = field(default_factory=dict)
    quotas: dict[int, dict[str, Any]] = field(default_factory=dict)
    robots: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[int, dict[str, Any]] = field(default_factory=dict)
    retentions: dict[int, dict[str, Any]] = field(default_factory=dict)
    immutable: dict[int, dict[str, Any]] = field(default_factory=dict)
    repositories: dict[int, list[str]] = field(default_factory=dict)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class FakeHarbor:
    """Start with `with FakeHarbor() as harbor:`; `harbor.url` is its base URL."""

    def __init__(
        self,
        *,
        username: str = "admin",
        password: str,
        cert: tuple[Path, Path] | None = None,
        quota_per_project: bool = True,
    ) -> None:
        self.username, self.password = username, password
        self.quota_per_project = quota_per_project
        self.state = State()
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        scheme = "http"
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._routes = self._build_routes()

    def __enter__(self) -> FakeHarbor:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- test controls -------------------------------------------------------------

    def fail(self, method: str, path: str, status: int = 503, times: int = 1) -> None:
        """Answer the next `times` requests of `method` on paths matching regex `path` with `status`."""
        self._faults.append(_Fault(method, re.compile(path), times, status=status))

    def stall(self, method: str, path: str, seconds: float, times: int = 1) -> None:
        """Delay the next `times` matching requests by `seconds` before answering."""
        self._faults.append(_Fault(method, re.compile(path), times, seconds=seconds))

    def clear_faults(self) -> None:
        """Drop every failure and stall not used up yet."""
        self._faults.clear()

    def seed_repositories(self, project: str, names: list[str]) -> None:
        pid = self._project(project, by_name=True)["project_id"]
        self.state.repositories.setdefault(pid, []).extend(f"{project}/{n}" for n in names)

    def project(self, name: str) -> dict[str, Any]:
        return self._project(name, by_name=True)

    def quota_of(self, project_id: int) -> dict[str, Any]:
        return next(q for q in self.state.quotas.values() if q["ref"]["id"] == project_id)

    def calls(self, method: str | None = None) -> list[Request]:
        return [r for r in self.requests if method is None or r.method == method]

    # ---- HTTP plumbing -----------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        harbor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without this, Nagle and delayed ACKs add ~40ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                harbor._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        status, payload, headers = 500, None, dict[str, str]()
        try:
            body = self._parse_body(h, raw)
            self.requests.append(
                Request(
                    h.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    body,
                    {k.lower(): v for k, v in h.headers.items()},
                )
            )
            self._inject(h.command, parts.path)
            self._authenticate(h)
            status, payload, headers = self._dispatch(h, parts.path, parts.query, body)
        except ApiError as err:
            status, payload = err.status, {"errors": [{"code": err.code, "message": err.message}]}
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)

    def _parse_body(self, h: BaseHTTPRequestHandler, raw: bytes) -> Any:
        if h.command not in ("POST", "PUT", "PATCH") or not raw:
            return None
        if not (h.headers.get("Content-Type") or "").startswith("application/json"):
            raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "the request body must be application/json")
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise bad(f"parsing request body failed: {exc}") from None

    def _inject(self, method: str, path: str) -> None:
        for fault in self._faults:
            if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                fault.times -= 1
                if fault.seconds:
                    time.sleep(fault.seconds)
                if fault.status:
                    raise ApiError(fault.status, "UNKNOWN", "injected failure")

    def _authenticate(self, h: BaseHTTPRequestHandler) -> None:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if h.headers.get("Authorization") != f"Basic {expected}":
            raise ApiError(401, "UNAUTHORIZED", "UnAuthorized")

    def _dispatch(
        self, h: BaseHTTPRequestHandler, path: str, query: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if not path.startswith(API):
            raise not_found(f"no route for {path}")
        sub = path[len(API) :]
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        by_name = (h.headers.get("X-Is-Resource-Name") or "").lower() == "true"
        for route in self._routes:
            match = route.pattern.fullmatch(sub)
            if route.method == h.command and match:
                with self._lock:
                    return route.handler(*match.groups(), body=body, params=params, by_name=by_name)
        raise not_found(f"no route for {h.command} {path}")

    def _build_routes(self) -> list[Route]:
        seg = r"([^/]+)"
        table: list[tuple[str, str, Callable[..., tuple[int, Any, dict[str, str]]]]] = [
            ("POST", "/projects", self._create_project),
            ("GET", f"/projects/{seg}", self._get_project),
            ("PUT", f"/projects/{seg}", self._update_project),
            ("DELETE", f"/projects/{seg}", self._delete_project),
            ("DELETE", f"/projects/{seg}/metadatas/{seg}", self._delete_metadata),
            ("GET", f"/projects/{seg}/repositories", self._list_repositories),
            ("DELETE", f"/projects/{seg}/repositories/{seg}", self._delete_repository),
            ("GET", "/quotas", self._list_quotas),
            ("PUT", r"/quotas/(\d+)", self._update_quota),
            ("POST", "/robots", self._create_robot),
            ("GET", "/robots", self._list_robots),
            ("GET", r"/robots/(\d+)", self._get_robot),
            ("PUT", r"/robots/(\d+)", self._update_robot),
            ("PATCH", r"/robots/(\d+)", self._refresh_robot_secret),
            ("DELETE", r"/robots/(\d+)", self._delete_robot),
            ("POST", "/labels", self._create_label),
            ("GET", "/labels", self._list_labels),
            ("POST", "/retentions", self._create_retention),
            ("GET", r"/retentions/(\d+)", self._get_retention),
            ("PUT", r"/retentions/(\d+)", self._update_retention),
            ("DELETE", r"/retentions/(\d+)", self._delete_retention),
            ("GET", f"/projects/{seg}/immutabletagrules", self._list_immutable),
            ("POST", f"/projects/{seg}/immutabletagrules", self._create_immutable),
            ("PUT", rf"/projects/{seg}/immutabletagrules/(\d+)", self._update_immutable),
            ("DELETE", rf"/projects/{seg}/immutabletagrules/(\d+)", self._delete_immutable),
        ]
        return [Route(method, re.compile(pattern), handler) for method, pattern, handler in table]

    # ---- projects ---------------------------------------------------------------------

    def _project(self, name_or_id: str, *, by_name: bool) -> dict[str, Any]:
        key = unquote(name_or_id)
        if not by_name and key.isdigit():
            found = self.state.projects.get(int(key))
        else:
            if " " in key:
                raise bad(f"invalid project name: '{key}'")
            found = next((p for p in self.state.projects.values() if p["name"] == key), None)
        if found is None:
            raise not_found(f"project {key} not found")
        return found

    def _project_view(self, project: dict[str, Any]) -> dict[str, Any]:
        return {
            **project,
            "metadata": dict(project["metadata"]),
            "repo_count": len(self.state.repositories.get(project["project_id"], [])),
        }

    def _check_metadata(self, metadata: Any, *, creating: bool) -> dict[str, str]:
        fields(metadata, dict.fromkeys(METADATA_KEYS, str), "metadata")
        values = {k: v for k, v in metadata.items() if v is not None}
        for key in BOOL_METADATA:
            if key in values and values[key] not in ("true", "false"):
                raise bad(f"metadata.{key} should only be 'true' or 'false', but got: '{values[key]}'")
        if "severity" in values and values["severity"] not in SEVERITIES:
            raise bad(f"invalid value: {values['severity']}")
        if creating and values.get("retention_id"):
            raise bad(
                "the retention_id in the request's payload when creating a project should be omitted, "
                "alternatively passing an empty string"
            )
        return values

    def _check_storage(self, value: Any) -> None:
        if value is not None and value <= 0 and value != -1:
            raise bad("invalid value for resource storage")

    _PROJECT_REQ = {
        "project_name": str,
        "public": bool,
        "metadata": dict,
        "cve_allowlist": dict,
        "storage_limit": int,
        "registry_id": int,
    }

    def _create_project(self, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        req = fields(body, self._PROJECT_REQ, "project")
        name = req.get("project_name")
        if not isinstance(name, str) or not 1 <= len(name) <= 255 or not NAME.match(name):
            raise bad("project name is not in lower case or contains illegal characters")
        metadata = self._check_metadata(req.get("metadata") or {}, creating=True)
        metadata.setdefault("public", "false")
        self._check_storage(req.get("storage_limit"))
        if any(p["name"] == name for p in self.state.projects.values()):
            raise ApiError(409, "CONFLICT", f"The project named {name} already exists")
        pid = self.state.new_id()
        self.state.projects[pid] = {
            "project_id": pid,
            "name": name,
            "owner_id": 1,
            "owner_name": self.username,
            "creation_time": _now(),
            "update_time": _now(),
            "deleted": False,
            "registry_id": 0,
            "metadata": metadata,
            "cve_allowlist": {"items": [], "project_id": pid},
        }
        if self.quota_per_project:
            limit = req.get("storage_limit") or -1
            qid = self.state.new_id()
            self.state.quotas[qid] = {
                "id": qid,
                "ref": {"id": pid, "name": name, "owner_name": self.username},
                "hard": {"storage": limit},
                "used": {"storage": 0},
            }
        return 201, None, {"Location": f"{API}/projects/{pid}"}

    def _get_project(self, name_or_id: str, *, by_name: bool, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._project_view(self._project(name_or_id, by_name=by_name)), {}

    def _update_project(
        self, name_or_id: str, *, body: Any, by_name: bool, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        project = self._project(name_or_id, by_name=by_name)
        req = fields(body, self._PROJECT_REQ, "project")
        if req.get("metadata") is not None:
            metadata = self._check_metadata(req["metadata"], creating=False)
            bound = metadata.get("retention_id")
            if bound is not None and bound != project["metadata"].get("retention_id"):
                raise bad(
                    "the retention_id in the request's payload when updating a project should be omitted, "
                    "alternatively passing the one that has already been associated to this project"
                )
            project["metadata"].update(metadata)
        project["update_time"] = _now()
        return 200, None, {}

    def _delete_project(self, name_or_id: str, *, by_name: bool, **_: Any) -> tuple[int, Any, dict[str, str]]:
        project = self._project(name_or_id, by_name=by_name)
        pid = project["project_id"]
        if self.state.repositories.get(pid):
            raise ApiError(412, "PRECONDITION", "the project contains repositories, can not be deleted")
        del self.state.projects[pid]
        self.state.robots = {k: r for k, r in self.state.robots.items() if r["project_id"] != pid}
        self.state.quotas = {k: q for k, q in self.state.quotas.items() if q["ref"]["id"] != pid}
        return 200, None, {}

    def _delete_metadata(
        self, name_or_id: str, meta: str, *, by_name: bool, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        project = self._project(name_or_id, by_name=by_name)
        project["metadata"].pop(unquote(meta), None)
        return 200, None, {}

    def _list_repositories(
        self, name: str, *, params: dict[str, str], **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        project = self._project(name, by_name=True)
        repos = self.state.repositories.get(project["project_id"], [])
        items = [{"id": i + 1, "name": r, "project_id": project["project_id"]} for i, r in enumerate(repos)]
        return 200, *self._page(items, params)

    def _delete_repository(self, name: str, repo: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        project = self._project(name, by_name=True)
        value = unquote(repo)
        if "/" in value:
            # Harbor's router splits on a single-encoded slash: the route does not match.
            raise not_found(f"no route for repository {value}")
        full = f"{project['name']}/{unquote(value)}"
        repos = self.state.repositories.get(project["project_id"], [])
        if full not in repos:
            raise not_found(f"repository {full} not found")
        repos.remove(full)
        return 200, None, {}

    def _page(self, items: list[Any], params: dict[str, str]) -> tuple[Any, dict[str, str]]:
        page, size = int(params.get("page", 1)), int(params.get("page_size", 10))
        if size > 100:
            raise bad("page_size must be at most 100")
        return items[(page - 1) * size : page * size], {"X-Total-Count": str(len(items))}

    # ---- quotas -----------------------------------------------------------------------

    def _list_quotas(self, *, params: dict[str, str], **_: Any) -> tuple[int, Any, dict[str, str]]:
        found = [
            q
            for q in self.state.quotas.values()
            if params.get("reference") == "project" and str(q["ref"]["id"]) == params.get("reference_id")
        ]
        return 200, found, {"X-Total-Count": str(len(found))}

    def _update_quota(self, qid: str, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        req = fields(body, {"hard": dict}, "hard")
        hard = req.get("hard")
        if not hard:
            raise bad("hard required in body")
        quota = self.state.quotas.get(int(qid))
        if quota is None:
            raise not_found(f"quota {qid} not found")
        for resource, value in hard.items():
            if resource != "storage":
                raise bad(f"resource {resource} not support")
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(f"parsing hard.{resource} failed: must be an integer")
            self._check_storage(value)
        quota["hard"] = dict(hard)
        return 200, None, {}

    # ---- robots -----------------------------------------------------------------------

    _ROBOT = {
        "id": int,
        "name": str,
        "description": str,
        "secret": str,
        "level": str,
        "duration": int,
        "editable": bool,
        "disable": bool,
        "expires_at": int,
        "permissions": list,
        "creation_time": str,
        "update_time": str,
    }

    def _check_robot(self, req: dict[str, Any]) -> dict[str, Any] | None:
        duration = req.get("duration") or 0
        if not -1 <= duration < MAX_INT32:
            raise bad(f"bad request error duration input: {duration}")
        level = req.get("level")
        if level not in ("system", "project"):
            raise bad(f"bad request error level input: {level}")
        permissions = req.get("permissions") or []
        if not permissions:
            raise bad("bad request empty permission")
        for permission in permissions:
            fields(permission, {"kind": str, "namespace": str, "access": list}, "permission")
            if not permission.get("access"):
                raise bad("bad request empty access")
            for access in permission["access"]:
                fields(access, {"resource": str, "action": str, "effect": str}, "access")
                resource, action = access.get("resource"), access.get("action")
                if action not in ROBOT_ACCESS.get(str(resource), set()):
                    raise bad(f"unsupported permission {resource}:{action}")
        if level == "project" and len(permissions) > 1:
            raise bad("bad request permission")
        project = None
        for permission in permissions:
            kind, namespace = permission.get("kind"), permission.get("namespace")
            if kind == "system":
                if namespace != "/":
                    raise bad("unknown namespace")
            elif kind == "project":
                if namespace != "*":
                    found = self._project(str(namespace), by_name=True)
                    project = project or found
            else:
                raise bad("unknown robot kind")
        if level == "project" and project is None:
            raise not_found(f"project {permissions[0].get('namespace')} not found")
        return project

    def _robot_view(self, robot: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in robot.items() if k not in ("secret", "project_id", "stored_name", "created")}

    def _create_robot(self, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        req = fields(body, self._ROBOT, "robot")
        name = req.get("name") or ""
        if not NAME.match(name):
            raise bad("robot name is not in lower case or contains illegal characters")
        project = self._check_robot(req)
        stored = f"{project['name']}+{name}" if project is not None else name
        if any(r["stored_name"] == stored for r in self.state.robots.values()):
            raise ApiError(409, "CONFLICT", f"robot account {stored} already exists")
        duration = req.get("duration") or DEFAULT_ROBOT_DAYS
        created = int(time.time())
        rid = self.state.new_id()
        robot = {
            "id": rid,
            "name": f"robot${stored}",
            "stored_name": stored,
            "description": req.get("description") or "",
            "secret": _secret(),
            "level": req["level"],
            "duration": duration,
            "editable": True,
            "disable": bool(req.get("disable")),
            "expires_at": -1 if duration == -1 else created + duration * 86400,
            "created": created,
            "permissions": [self._permission_view(p) for p in req["permissions"]],
            "project_id": project["project_id"] if project is not None else 0,
            "creation_time": _now(),
            "update_time": _now(),
        }
        self.state.robots[rid] = robot
        return (
            201,
            {
                "id": rid,
                "name": robot["name"],
                "secret": robot["secret"],
                "creation_time": robot["creation_time"],
                "expires_at": robot["expires_at"],
            },
            {"Location": f"{API}/robots/{rid}"},
        )

    @staticmethod
    def _permission_view(permission: dict[str, Any]) -> dict[str, Any]:
        return {
            "kind": permission["kind"],
            "namespace": permission["namespace"],
            "access": [
                {"resource": a["resource"], "action": a["action"], "effect": a.get("effect") or "allow"}
                for a in permission["access"]
            ],
        }

    def _robot(self, rid: str) -> dict[str, Any]:
        robot = self.state.robots.get(int(rid))
        if robot is None:
            raise not_found(f"robot {rid} not found")
        return robot

    def _get_robot(self, rid: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._robot_view(self._robot(rid)), {}

    def _update_robot(self, rid: str, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        robot = self._robot(rid)
        req = fields(body, self._ROBOT, "robot")
        self._check_robot(req)
        if req.get("level") != robot["level"] or req.get("name") != robot["name"]:
            raise bad("cannot update the level or name of robot")
        duration = req.get("duration") or 0
        if duration != robot["duration"]:
            robot["duration"] = duration or DEFAULT_ROBOT_DAYS
            robot["expires_at"] = -1 if duration == -1 else robot["created"] + robot["duration"] * 86400
        robot["description"] = req.get("description") or ""
        robot["disable"] = bool(req.get("disable"))
        robot["permissions"] = [self._permission_view(p) for p in req["permissions"]]
        robot["update_time"] = _now()
        return 200, None, {}

    @staticmethod
    def _query(params: dict[str, str]) -> dict[str, str]:
        """Harbor's `q` parameter, exact matches only: `k=v,k2=v2`."""
        pairs = [item.split("=", 1) for item in params.get("q", "").split(",") if item]
        if any(len(pair) != 2 for pair in pairs):
            raise bad(f"invalid query: {params.get('q')!r}")
        return dict((k, v) for k, v in pairs)

    def _list_robots(self, *, params: dict[str, str], **_: Any) -> tuple[int, Any, dict[str, str]]:
        query = self._query(params)
        level = query.get("Level", "system")
        if level not in ("system", "project"):
            raise bad("bad request error level input")
        project_id = 0
        if level == "project":
            if "ProjectID" not in query:
                raise bad("must with project ID when to query project robots")
            if not query["ProjectID"].isdigit():
                raise bad("Project ID must be int type.")
            project_id = int(query["ProjectID"])
        found = [self._robot_view(r) for r in self.state.robots.values() if r["project_id"] == project_id]
        page, headers = self._page(found, params)
        return 200, page, headers

    def _refresh_robot_secret(self, rid: str, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        robot = self._robot(rid)
        secret = fields(body, {"secret": str}, "robot secret").get("secret") or ""
        if secret:
            if not (len(secret) >= 8 and re.search("[a-z]", secret) and re.search("[A-Z]", secret)
                    and re.search("[0-9]", secret)):  # fmt: skip
                raise bad("the secret must longer than 8 chars with at least 1 uppercase letter, "
                          "1 lowercase letter and 1 number")  # fmt: skip
            robot["secret"] = secret
            return 200, {"secret": ""}, {}
        robot["secret"] = _secret()
        return 200, {"secret": robot["secret"]}, {}

    def _delete_robot(self, rid: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        self._robot(rid)
        del self.state.robots[int(rid)]
        return 200, None, {}

    # ---- labels -----------------------------------------------------------------------

    _LABEL = {"name": str, "description": str, "color": str, "scope": str, "project_id": int}

    def _create_label(self, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        req = fields(body, self._LABEL, "label")
        name, scope = req.get("name") or "", req.get("scope")
        if not name:
            raise bad("label name is required")
        if scope not in ("g", "p"):
            raise bad("unsupported label scope")
        project_id = int(req.get("project_id") or 0) if scope == "p" else 0
        if scope == "p":
            self._project(str(project_id), by_name=False)
        if any(lb["name"] == name and lb["scope"] == scope and lb["project_id"] == project_id
               for lb in self.state.labels.values()):  # fmt: skip
            raise ApiError(409, "CONFLICT", f"label {name} already exists")
        lid = self.state.new_id()
        self.state.labels[lid] = {
            "id": lid,
            "name": name,
            "description": req.get("description") or "",
            "color": req.get("color") or "",
            "scope": scope,
            "project_id": project_id,
            "creation_time": _now(),
            "update_time": _now(),
        }
        return 201, None, {"Location": f"{API}/labels/{lid}"}

    def _list_labels(self, *, params: dict[str, str], **_: Any) -> tuple[int, Any, dict[str, str]]:
        scope = params.get("scope", "")
        if scope not in ("g", "p"):
            raise bad(f"invalid scope: {scope}")
        project_id = int(params.get("project_id") or 0)
        if scope == "p" and project_id == 0:
            raise bad("must with project ID when to query project labels")
        name = params.get("name", "")
        found = [
            dict(lb)
            for lb in self.state.labels.values()
            if lb["scope"] == scope and (scope == "g" or lb["project_id"] == project_id) and name in lb["name"]
        ]
        page, headers = self._page(found, params)
        return 200, page, headers

    # ---- retention --------------------------------------------------------------------

    _SELECTOR = {"kind": str, "decoration": str, "pattern": str, "extras": str}

    def _check_selector(self, selector: Any, decorations: tuple[str, ...], where: str) -> None:
        fields(selector, self._SELECTOR, where)
        if not re.search("doublestar", selector.get("kind") or ""):
            raise bad(f"{where}.kind: must be doublestar")
        if selector.get("decoration") not in decorations:
            raise bad(f"{where}.decoration: must be one of {', '.join(decorations)}")
        if not selector.get("pattern"):
            raise bad(f"{where}.pattern: can not be empty")

    def _check_selectors(self, rule: dict[str, Any], where: str) -> None:
        tags = rule.get("tag_selectors")
        if not isinstance(tags, list) or not tags:
            raise bad(f"{where}.tag_selectors: can not be empty")
        for selector in tags:
            self._check_selector(selector, ("matches", "excludes"), f"{where}.tag_selectors")
        scopes = rule.get("scope_selectors")
        if not isinstance(scopes, dict) or not scopes.get("repository"):
            raise bad(f"{where}.scope_selectors: needs a repository selector")
        if set(scopes) != {"repository"} or not isinstance(scopes["repository"], list):
            raise bad(f"{where}.scope_selectors: only repository selectors are supported")
        for selector in scopes["repository"]:
            self._check_selector(
                selector, ("repoMatches", "repoExcludes"), f"{where}.scope_selectors.repository"
            )

    def _check_retention(self, body: Any) -> dict[str, Any]:
        req = fields(
            body, {"id": int, "algorithm": str, "rules": list, "trigger": dict, "scope": dict}, "policy"
        )
        rules = req.get("rules") or []
        if len(rules) > 15:
            raise bad("only 15 rules are allowed at most")
        seen = set()
        for n, rule in enumerate(rules):
            key = json.dumps({k: v for k, v in rule.items() if k != "id"}, sort_keys=True)
            if key in seen:
                raise ApiError(409, "CONFLICT", f"rule {n} is conflict with an earlier rule")
            seen.add(key)
        if req.get("algorithm") != "or":
            raise bad("Algorithm: must be 'or'")
        trigger = fields(req.get("trigger"), {"kind": str, "settings": dict, "references": dict}, "trigger")
        if trigger.get("kind") != "Schedule":
            raise bad(f"not support Trigger {trigger.get('kind')}")
        settings = trigger.get("settings")
        if not isinstance(settings, dict) or "cron" not in settings:
            raise bad("Trigger.Settings.cron: Can not be empty")
        cron = settings["cron"]
        if not isinstance(cron, str) or (cron and len(cron.split()) != 6):
            raise bad(f"invalid cron expression {cron!r}: six fields, seconds first")
        scope = fields(req.get("scope"), {"level": str, "ref": int}, "scope")
        if scope.get("level") != "project":
            raise bad(f"scope {scope.get('level')} is not support")
        for n, rule in enumerate(rules):
            where = f"rules[{n}]"
            fields(
                rule,
                {
                    "id": int,
                    "priority": int,
                    "disabled": bool,
                    "action": str,
                    "template": str,
                    "params": dict,
                    "tag_selectors": list,
                    "scope_selectors": dict,
                },
                where,
            )
            if rule.get("action") != "retain":
                raise bad(f"{where}.action: must be retain")
            template = rule.get("template")
            if template not in RETENTION_TEMPLATES:
                raise bad(f"{where}.template: unknown template {template}")
            params = rule.get("params")
            if not isinstance(params, dict):
                raise bad(f"{where}.params: Can not be empty")
            if RETENTION_TEMPLATES[template]:
                value = params.get(template)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise bad(f"{template} type error")
                if value < 0:
                    raise bad(f"{template} is less than zero")
                if value >= 2**15 - 1:
                    raise bad(f"{template} is too large")
            self._check_selectors(rule, where)
        return req

    def _bound_project(self, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, int) or ref <= 0:
            raise bad(f"invalid Project id {ref}")
        project = self.state.projects.get(ref)
        if project is None:
            raise bad(f"invalid Project id {ref}")
        return project

    def _create_retention(self, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        req = self._check_retention(body)
        project = self._bound_project(req["scope"].get("ref"))
        bound = project["metadata"].get("retention_id")
        if bound:
            raise bad(f"project {project['project_id']} already has retention policy {bound}")
        rid = self.state.new_id()
        self.state.retentions[rid] = {**req, "id": rid}
        project["metadata"]["retention_id"] = str(rid)
        return 201, None, {"Location": f"{API}/retentions/{rid}"}

    def _get_retention(self, rid: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        policy = self.state.retentions.get(int(rid))
        if policy is None:
            raise internal()
        return 200, policy, {}

    def _update_retention(self, rid: str, *, body: Any, **_: Any) -> tuple[int, Any, dict[str, str]]:
        req = self._check_retention(body)
        project = self._bound_project(req["scope"].get("ref"))
        if project["metadata"].get("retention_id") != rid:
            raise not_found(f"the retention policy id {rid} does not match")
        if int(rid) not in self.state.retentions:
            raise internal()
        self.state.retentions[int(rid)] = {**req, "id": int(rid)}
        return 200, None, {}

    def _delete_retention(self, rid: str, **_: Any) -> tuple[int, Any, dict[str, str]]:
        if int(rid) not in self.state.retentions:
            raise bad(f"no such Retention policy with id {rid}")
        # Like Harbor: the project's retention_id is left behind.
        del self.state.retentions[int(rid)]
        return 200, None, {}

    # ---- immutable tag rules ----------------------------------------------------------

    _IMMUTABLE = {
        "id": int,
        "priority": int,
        "disabled": bool,
        "action": str,
        "template": str,
        "params": dict,
        "tag_selectors": list,
        "scope_selectors": dict,
    }

    @staticmethod
    def _rule_content(rule: dict[str, Any]) -> str:
        return json.dumps(
            {k: rule.get(k) for k in ("action", "template", "tag_selectors", "scope_selectors")},
            sort_keys=True,
        )

    def _check_immutable(self, body: Any) -> dict[str, Any]:
        req = fields(body, self._IMMUTABLE, "ImmutableRule")
        if req.get("action") != "immutable":
            raise bad("Action: must be immutable")
        if req.get("template") != "immutable_template":
            raise bad("Template: must be immutable_template")
        self._check_selectors(req, "ImmutableRule")
        return req

    def _list_immutable(
        self, name_or_id: str, *, params: dict[str, str], by_name: bool, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        pid = self._project(name_or_id, by_name=by_name)["project_id"]
        rules = [r for _, r in sorted(self.state.immutable.items()) if r["project_id"] == pid]
        return 200, *self._page([{k: v for k, v in r.items() if k != "project_id"} for r in rules], params)

    def _create_immutable(
        self, name_or_id: str, *, body: Any, by_name: bool, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        pid = self._project(name_or_id, by_name=by_name)["project_id"]
        req = self._check_immutable(body)
        content = self._rule_content(req)
        if any(
            r["project_id"] == pid and self._rule_content(r) == content for r in self.state.immutable.values()
        ):
            raise ApiError(409, "CONFLICT", "immutable rule already exists")
        rid = self.state.new_id()
        self.state.immutable[rid] = {**req, "id": rid, "project_id": pid, "disabled": False}
        return 201, None, {"Location": f"{API}/projects/{name_or_id}/immutabletagrules/{rid}"}

    def _immutable(self, pid: int, rid: str) -> dict[str, Any]:
        rule = self.state.immutable.get(int(rid))
        if rule is None or rule["project_id"] != pid:
            raise not_found(f"immutable rule {rid} not found")
        return rule

    def _update_immutable(
        self, name_or_id: str, rid: str, *, body: Any, by_name: bool, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        req = self._check_immutable(body)
        if req.get("id") != int(rid):
            raise bad("the immutable_rule_id doesn't match the id in the payload body of ImmutableRule")
        pid = self._project(name_or_id, by_name=by_name)["project_id"]
        rule = self._immutable(pid, rid)
        if bool(req.get("disabled")) != rule["disabled"]:
            # Harbor's quirk: a change of `disabled` only toggles the rule.
            rule["disabled"] = bool(req.get("disabled"))
        else:
            rule.update({k: req[k] for k in ("action", "template", "tag_selectors", "scope_selectors")})
        return 200, None, {}

    def _delete_immutable(
        self, name_or_id: str, rid: str, *, by_name: bool, **_: Any
    ) -> tuple[int, Any, dict[str, str]]:
        pid = self._project(name_or_id, by_name=by_name)["project_id"]
        self._immutable(pid, rid)
        del self.state.immutable[int(rid)]
        return 200, None, {}
