"""The studio's HTTP server: a Starlette app over :class:`~stylize.studio.workspace.Workspace` and
:class:`~stylize.studio.jobs.JobManager` (the API: docs/studio.md).

Every request needs the access token (``?token=``, the ``X-Stylize-Token`` header, or the cookie the
first page load sets). Light requests are answered on the event loop; rendering and decoding run in
threads (one render at a time); training and exports run in a worker process. Errors are JSON
``{"error": "one line"}``: 400 a bad value, 403 no token, 404 an unknown id, 409 busy, 413 too large.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stylize.config import PARAMETERS, SCHEMA
from stylize.errors import StylizeError
from stylize.faults import machine_error
from stylize.studio.jobs import FINAL, BusyError, JobManager
from stylize.studio.workspace import (
    FACE_ID,
    MAX_ADDED_FACES,
    MAX_FACES,
    MAX_REQUEST_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_FILES,
    MIN_FACES,
    UploadError,
    Workspace,
)

log = logging.getLogger("stylize.studio")

COOKIE = "stylize_studio_token"
STATIC_FILES = {"studio.js": "text/javascript", "studio.css": "text/css"}
MAX_JSON_BYTES = 64_000
HEADERS = {
    # Everything the page uses is served here; nothing from the internet, no inline script.
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # the address holds the token
    "cache-control": "no-store",
}


class TooLarge(Exception):
    pass


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Sec-Fetch-Site values a state-changing request may carry: the studio's own page, or the user typing or
# bookmarking (no page). "same-site" is refused too: a page served by any other local server is same-site
# with the studio (sites ignore ports), so neither it nor SameSite=Strict cookies tell the two apart.
OWN_FETCH_SITES = ("same-origin", "none")


def _host_name(host: str) -> str:
    """The name in a Host header, without its port (an IPv6 address keeps its brackets off)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, lower case ("" when none)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class TokenGate:
    """ASGI middleware: refuse a request without the token (403), a state-changing one from another page
    (its Origin not the studio's own, or Sec-Fetch-Site other than same-origin: a cross-site request
    forgery), and, when ``hosts`` is given, one whose Host header names another host (DNS rebinding);
    set the cookie when the token came in the address; add the security headers to every answer."""

    def __init__(self, app: ASGIApp, token: str, hosts: frozenset[str] | None = None) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    def _refusal(self, request: Request) -> str | None:
        """Why ``request`` is refused before its token is looked at, or None."""
        host = request.headers.get("host", "")
        if self.hosts is not None and _host_name(host) not in self.hosts:
            return (
                f"this studio answers at {' or '.join(sorted(self.hosts))}, not {host or 'no host'}; "
                "open the address stylize studio printed"
            )
        if request.method in SAFE_METHODS:
            return None
        site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        if (site is not None and site not in OWN_FETCH_SITES) or (
            origin is not None and origin != f"{request.url.scheme}://{host}"
        ):
            return f"a {request.method} from another page ({origin or site}) is refused; use the studio's own page"
        return None

    def _given(self, request: Request) -> tuple[str | None, bool]:
        query = request.query_params.get("token")
        if query is not None:
            return query, True
        return request.headers.get("x-stylize-token") or request.cookies.get(COOKIE), False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given, in_address = self._given(request)
        headers = [(key.encode(), value.encode()) for key, value in HEADERS.items()]
        refusal = self._refusal(request)
        if refusal is not None:
            answer = JSONResponse({"error": refusal}, status_code=403)
            answer.raw_headers.extend(headers)
            await answer(scope, receive, send)
            return
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            answer = JSONResponse(
                {"error": "no valid access token; open the address stylize studio printed (it ends in ?token=...)"},
                status_code=403,
            )
            answer.raw_headers.extend(headers)
            await answer(scope, receive, send)
            return
        if in_address:
            headers.append((b"set-cookie", f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                cached = any(key.lower() == b"cache-control" for key, _ in own)  # an image may say how long
                added = [(key, value) for key, value in headers if not (cached and key == b"cache-control")]
                message = {**message, "headers": [*own, *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


def _png(data: bytes, cache: str = "private, max-age=3600") -> Response:
    """A PNG the browser may keep: faces and reference thumbnails do not change under their address."""
    return Response(data, media_type="image/png", headers={"cache-control": cache})


def _flag(value: str | None, name: str, default: bool) -> bool:
    if value is None:
        return default
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise StylizeError(f"{name}={value!r}: give 1 or 0")


def _number(value: str | None, name: str, default: float) -> float:
    if value is None:
        return default
    if len(value) > 32:
        raise StylizeError(f"{name}: give a short number")
    try:
        return float(value)
    except ValueError:
        raise StylizeError(f"{name}={value!r}: give a number") from None


async def _json_body(request: Request) -> Any:
    if media_type(request) != "application/json":  # a text/plain body would need no preflight from another page
        raise StylizeError("send the request as JSON (Content-Type: application/json)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise UploadError(f"the request is over {MAX_JSON_BYTES} bytes", 413)
    try:
        from stylize.files import parse_json

        return parse_json(body.decode("utf-8"))
    except (UnicodeDecodeError, StylizeError, ValueError):
        raise StylizeError("the request is not valid JSON") from None


async def _files(request: Request) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """The uploaded files (name, bytes) and the text fields of a multipart request, within the limits."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_REQUEST_BYTES:
        raise UploadError(f"the upload is {int(length)} bytes; send at most {MAX_REQUEST_BYTES} bytes at once", 413)
    if media_type(request) != "multipart/form-data":
        raise StylizeError("send the images as multipart/form-data in the field 'files'")
    seen = 0
    receive = request.receive

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_REQUEST_BYTES:
            raise TooLarge
        return message

    try:
        form = await Request(request.scope, limited).form(max_files=MAX_UPLOAD_FILES, max_fields=8)
    except TooLarge:
        raise UploadError(f"the upload is over {MAX_REQUEST_BYTES} bytes; send fewer or smaller images", 413) from None
    except HTTPException as err:  # the multipart parser's limits and faults
        raise UploadError(
            f"the upload was refused: {err.detail}; send at most {MAX_UPLOAD_FILES} images", 413
        ) from None
    try:
        files, fields = [], {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "files":
                    raise StylizeError(f"unexpected file field {key!r}; send the images in the field 'files'")
                data = await value.read(MAX_UPLOAD_BYTES + 1)
                if len(data) > MAX_UPLOAD_BYTES:
                    raise UploadError(
                        f"{value.filename or 'upload'}: over {MAX_UPLOAD_BYTES} bytes; give a smaller image", 413
                    )
                files.append((value.filename or "upload", data))
            else:
                fields[key] = str(value)[:200]
        return files, fields
    finally:
        await form.close()


class Studio:
    """The app's handlers, bound to one workspace and one job manager."""

    def __init__(self, workspace: Workspace, jobs: JobManager) -> None:
        self.workspace = workspace
        self.jobs = jobs

    # --- page ---
    async def page(self, request: Request) -> Response:
        html = resources.files("stylize.studio").joinpath("static/index.html").read_bytes()
        return Response(html, media_type="text/html; charset=utf-8")

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise LookupError(f"{name!r}: no such file")
        data = resources.files("stylize.studio").joinpath(f"static/{name}").read_bytes()
        return Response(data, media_type=STATIC_FILES[name])

    # --- state ---
    def _state(self) -> dict[str, Any]:
        ws = self.workspace
        train = SCHEMA["train"]
        jobs = self.jobs.jobs()
        return {
            "faces": {
                "game": ws.game_available(),
                "legacy": bool(ws.legacy_sources),
                "uploads": len(ws.uploaded_faces()),
                "min": MIN_FACES,
                "max": MAX_FACES,
                "max_added": MAX_ADDED_FACES,
                "default_seeds": ws.default_seeds(),
            },
            "settings": {
                "strength": PARAMETERS["strength"].default,
                "preserve_color": PARAMETERS["preserve_color"].default,
                "scale": PARAMETERS["scale"].default,
                "keep_values": ws.config.styles.keep_values,
            },
            "train": {"minutes": ws.config.train.minutes, "default_minutes": train["minutes"].default},
            "distill": {"minutes": ws.config.distill.minutes},
            "limits": {"upload_bytes": MAX_UPLOAD_BYTES, "upload_files": MAX_UPLOAD_FILES},
            "ready": ws.warm.is_set(),  # the zero-training engine is loaded: a dropped reference is quick
            "styles": ws.styles(),
            "stopped": self._stopped(jobs),
            "jobs": jobs,
            "busy": self.jobs.busy(),
        }

    async def state(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self._state))

    async def styles(self, request: Request) -> Response:
        return JSONResponse({"styles": await run_in_threadpool(self.workspace.styles)})

    # --- faces ---
    def _face_list(self, source: str, seeds: str, armoured: bool, add: str = "") -> dict[str, list[Any]]:
        """The faces of a source, then the uploaded portraits ``add`` names (``u..`` ids, comma-separated) beside
        them (``"added": true``), and a line for each one that cannot be read (a broken file, a decompression
        bomb among the legacy portraits): left out, named, the others shown."""
        faces: list[dict[str, Any]] = []
        problems: list[str] = []
        listed = self.workspace.list_faces(source, seeds, armoured)
        added = [face_id for face_id in self.workspace.added_faces(add) if face_id not in listed]
        for face_id in [*listed, *added]:
            try:
                face = {"id": face_id, "label": self.workspace.face(face_id).label, "url": f"/api/face/{face_id}.png"}
                faces.append({**face, "added": True} if face_id in added else face)
            except (StylizeError, LookupError) as err:
                problems.append(" ".join(str(err.args[0] if isinstance(err, LookupError) else err).split()))
        if not faces and problems:
            raise StylizeError(f"no readable face in {source}: {problems[0]}")
        return {"faces": faces, "problems": problems}

    async def faces(self, request: Request) -> Response:
        query = request.query_params
        source = query.get("source", "game")
        seeds = query.get("seeds", "")
        if len(seeds) > 400:
            raise StylizeError("seeds: give at most 16 seeds")
        armoured = _flag(query.get("armoured"), "armoured", False)
        add = query.get("add", "")
        if len(add) > 200:
            raise StylizeError(f"add: give at most {MAX_ADDED_FACES} uploaded portraits")
        return JSONResponse(await run_in_threadpool(self._face_list, source, seeds, armoured, add))

    async def face_png(self, request: Request) -> Response:
        face_id = request.path_params["face"]
        if not FACE_ID.fullmatch(face_id):
            raise LookupError(f"face {face_id!r}: not a face id")
        data = await run_in_threadpool(self.workspace.face_png, face_id)
        # a game face or an upload never changes under its id; a legacy file may be replaced on disk
        return _png(data, "private, no-cache" if face_id.startswith("l") else "private, max-age=3600")

    async def upload_faces(self, request: Request) -> Response:
        files, _ = await _files(request)
        paths = await run_in_threadpool(self.workspace.store_uploads, files, "faces")
        answer = await run_in_threadpool(self._face_list, "uploads", "", False)
        # the ids of the portraits just dropped, in the order dropped: the page puts them beside its faces
        answer["added"] = list(dict.fromkeys(f"u{path.stem}" for path in paths))
        return JSONResponse(answer)

    # --- renaming and deleting styles ---
    def _idle_style(self, name: str) -> None:
        job = self.jobs.busy()
        if job is not None and name in (job.get("style"), job.get("name")):
            raise StylizeError(f"style {name!r} is in use by job {job['id']}; wait for it or cancel it first")

    def _rename(self, name: str, to: Any) -> dict[str, Any]:
        self._idle_style(name)
        return self.workspace.style_info(self.workspace.rename_style(name, to if isinstance(to, str) else ""))

    async def style_rename(self, request: Request) -> Response:
        body = await _json_body(request)
        to = body.get("to") if isinstance(body, dict) else None
        style = await run_in_threadpool(self._rename, request.path_params["style"], to)
        return JSONResponse({"style": style})

    def _delete(self, name: str) -> dict[str, Any]:
        self._idle_style(name)
        return {"deleted": name, "undo": self.workspace.delete_style(name)}

    async def style_delete(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self._delete, request.path_params["style"]))

    def _restore(self, trash_id: str) -> dict[str, Any]:
        name = self.workspace.restore_style(trash_id)
        if name in self.workspace.style_names():
            return {"style": self.workspace.style_info(name), "stopped": None}
        return {"style": None, "stopped": name}  # a stopped training's folder, back in the list

    async def style_restore(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self._restore, request.path_params["trash"]))

    # --- stopped trainings (a folder without a style yet: resume its job, or delete it) ---
    def _stopped(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The stopped trainings' folders, each with the job of ``jobs`` that can resume it (None when no job
        of this studio made it, or its checkpoint is not whole)."""
        listed = []
        for item in self.workspace.stopped_trainings():
            if any(job["name"] == item["name"] and job["state"] not in FINAL for job in jobs):
                continue  # a job is making it now: the job card shows it
            job = next(
                (j for j in jobs if j["kind"] in ("train", "distill") and j["name"] == item["name"] and j["resumable"]),
                None,
            )
            listed.append({**item, "job": job["id"] if job else None})
        return listed

    def _delete_stopped(self, name: str) -> dict[str, Any]:
        for job in self.jobs.jobs():
            if job["name"] == name and job["state"] not in FINAL:
                raise StylizeError(f"{name!r} is in use by job {job['id']}; wait for it or cancel it first")
        return {"deleted": name, "undo": self.workspace.delete_stopped(name)}

    async def stopped_delete(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self._delete_stopped, request.path_params["name"]))

    # --- references ---
    def _make_reference(self, files: list[tuple[str, bytes]], name: str | None) -> dict[str, Any]:
        paths = self.workspace.store_uploads(files, "refs")
        chosen = self.workspace.make_reference_style(paths, name, files[0][0] if files else None)
        return self.workspace.style_info(chosen)

    async def references(self, request: Request) -> Response:
        files, fields = await _files(request)
        style = await run_in_threadpool(self._make_reference, files, fields.get("name"))
        return JSONResponse({"style": style})

    async def reference_png(self, request: Request) -> Response:
        name, index = request.path_params["style"], request.path_params["index"]
        return _png(await run_in_threadpool(self.workspace.reference_thumbnail, name, index), "private, max-age=60")

    # --- the grid ---
    async def render(self, request: Request) -> Response:
        query = request.query_params
        face_id, spec = query.get("face", ""), query.get("style", "")
        if not FACE_ID.fullmatch(face_id):
            raise StylizeError(f"face={face_id[:40]!r}: give a face id from /api/faces")
        if not spec or len(spec) > 400:
            raise StylizeError("style: give a style name or a mix such as a:0.6,b:0.4")
        from stylize.inference.image import ApplySettings

        defaults = ApplySettings()
        settings = ApplySettings(  # checks each value as apply does: a bad one is a 400
            strength=_number(query.get("strength"), "strength", defaults.strength),
            preserve_color=_flag(query.get("preserve"), "preserve", defaults.preserve_color),
            scale=_number(query.get("scale"), "scale", defaults.scale),
            keep_values=_number(query.get("keep_values"), "keep_values", self.workspace.config.styles.keep_values),
        )
        key = await run_in_threadpool(self.workspace.render_key, face_id, spec, settings)
        etag = f'"{key}"'
        headers = {"etag": etag, "cache-control": "private, no-cache"}  # revalidated: a style may be retrained
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        data = await run_in_threadpool(self.workspace.render, face_id, spec, settings)
        return Response(data, media_type="image/png", headers=headers)

    # --- jobs ---
    async def jobs_list(self, request: Request) -> Response:
        return JSONResponse({"jobs": await run_in_threadpool(self.jobs.jobs)})

    async def job_submit(self, request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse({"job": await run_in_threadpool(self.jobs.submit, body)}, status_code=202)

    async def job_get(self, request: Request) -> Response:
        return JSONResponse({"job": await run_in_threadpool(self.jobs.job, request.path_params["job"])})

    async def job_cancel(self, request: Request) -> Response:
        return JSONResponse({"job": await run_in_threadpool(self.jobs.cancel, request.path_params["job"])})

    async def job_resume(self, request: Request) -> Response:
        job = await run_in_threadpool(self.jobs.resume, request.path_params["job"])
        return JSONResponse({"job": job}, status_code=202)

    async def job_preview(self, request: Request) -> Response:
        return FileResponse(self.jobs.preview(request.path_params["job"]), media_type="image/png")

    async def download(self, request: Request) -> Response:
        path = self.jobs.file(request.path_params["job"], request.path_params["name"])
        return FileResponse(path, filename=path.name, content_disposition_type="attachment")


async def _on_error(request: Request, err: Exception) -> Response:
    if isinstance(err, UploadError):
        return _error(str(err), err.status)
    if isinstance(err, BusyError):
        return _error(str(err), 409)
    if isinstance(err, StylizeError):
        return _error(str(err), 400)
    if isinstance(err, LookupError):
        return _error(str(err.args[0]) if err.args else "not found", 404)
    if isinstance(err, HTTPException):
        return _error(str(err.detail), err.status_code)
    fault = machine_error(err)  # a full disk, a read-only folder: the same one line as the CLI's
    if fault is not None:
        return _error(str(fault), 507 if fault.code in (errno.ENOSPC, errno.EDQUOT) else 500)
    log.exception("studio: %s %s failed", request.method, request.url.path)
    return _error(f"internal error ({type(err).__name__}: {err}); the studio goes on, see its terminal", 500)


def create_app(
    workspace: Workspace,
    jobs: JobManager,
    token: str,
    *,
    poll_seconds: float = 1.0,
    warm_up: bool = True,
    hosts: frozenset[str] | None = None,
) -> ASGIApp:
    """The studio as an ASGI app: the routes, the error answers and the gate (:class:`TokenGate`: the token,
    the request's origin, and its Host among ``hosts`` when given)."""
    studio = Studio(workspace, jobs)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def watch() -> None:
            while True:
                await asyncio.sleep(poll_seconds)
                await run_in_threadpool(jobs.poll)

        task = asyncio.create_task(watch())
        warming = threading.Thread(target=workspace.warm_up, name="studio-warm-up", daemon=True)
        if warm_up:
            warming.start()
        else:
            workspace.warm.set()
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(jobs.shutdown)
            if warming.is_alive():  # let it finish: a thread killed inside the runtimes at exit aborts the process
                await run_in_threadpool(warming.join, 60)

    routes = [
        Route("/", studio.page),
        Route("/static/{name}", studio.static),
        Route("/api/state", studio.state),
        Route("/api/styles", studio.styles),
        Route("/api/styles/{style}/rename", studio.style_rename, methods=["POST"]),
        Route("/api/styles/{style}/delete", studio.style_delete, methods=["POST"]),
        Route("/api/trash/{trash}/restore", studio.style_restore, methods=["POST"]),
        Route("/api/stopped/{name}/delete", studio.stopped_delete, methods=["POST"]),
        Route("/api/faces", studio.faces, methods=["GET"]),
        Route("/api/faces", studio.upload_faces, methods=["POST"]),
        Route("/api/face/{face}.png", studio.face_png),
        Route("/api/references", studio.references, methods=["POST"]),
        Route("/api/ref/{style}/{index:int}.png", studio.reference_png),
        Route("/api/render.png", studio.render),
        Route("/api/jobs", studio.jobs_list, methods=["GET"]),
        Route("/api/jobs", studio.job_submit, methods=["POST"]),
        Route("/api/jobs/{job}", studio.job_get),
        Route("/api/jobs/{job}/cancel", studio.job_cancel, methods=["POST"]),
        Route("/api/jobs/{job}/resume", studio.job_resume, methods=["POST"]),
        Route("/api/jobs/{job}/preview.png", studio.job_preview),
        Route("/api/download/{job}/{name}", studio.download),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        Exception: _on_error,
        StylizeError: _on_error,
        LookupError: _on_error,
        HTTPException: _on_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    return TokenGate(app, token, hosts)
