"""``stylize studio``: a local web app where an artist tries references on the faces, trains, compares
and exports, without a terminal (docs/studio.md).

:func:`serve` starts the server; :func:`open_studio` builds the app without serving it (tests drive it
with an HTTP client). The parts: :mod:`~stylize.studio.workspace` (the studio folder, faces, uploads,
styles, renders), :mod:`~stylize.studio.jobs` and :mod:`~stylize.studio.worker` (heavy work in a worker
process), :mod:`~stylize.studio.server` (the HTTP API and the token), ``static/`` (the page).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
import socket
import sys
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylize.config import PipelineConfig, default_config
from stylize.errors import StylizeError
from stylize.output_folder import FolderLock

log = logging.getLogger("stylize")

DEFAULT_PORT = 8765
DEFAULT_FOLDER = "studio"
EVAL_FACES = 16
TOKEN_FILE = "token"  # in the studio folder, its owner's only: the access token, kept across restarts
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class StudioApp:
    app: Any  # the ASGI app
    token: str
    workspace: Any
    jobs: Any
    lock: FolderLock

    def close(self) -> None:
        self.jobs.shutdown()
        self.lock.__exit__(None, None, None)


def folder_token(folder: Path) -> str:
    """The studio folder's access token, made at its first start and kept in ``folder/token`` (readable by its
    owner only), so the page's address, and a page left open, stay valid when the studio is restarted."""
    from stylize.faults import machine_error
    from stylize.imageio import atomic_write_text

    path = folder / TOKEN_FILE
    try:
        kept = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        kept = ""
    except OSError as err:
        raise machine_error(err, path) or StylizeError(
            f"{path}: cannot read the studio's token ({err.strerror}); delete the file to make a new one"
        ) from err
    except UnicodeDecodeError:
        kept = ""  # not a token this studio wrote: a new one replaces it
    if re.fullmatch(r"[A-Za-z0-9_-]{32,128}", kept):
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a token others could read is no token
        return kept
    token = secrets.token_urlsafe(24)
    atomic_write_text(path, token + "\n", mode=0o600)
    return token


def hosts_for(host: str) -> frozenset[str] | None:
    """The names a studio listening on ``host`` answers to (its Host header, against DNS rebinding): the
    loopback names and ``host``; None (any name) when it listens on every interface (warned about)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return LOOPBACK_NAMES | {host.lower().strip("[]")}


def open_studio(
    folder: str | os.PathLike[str] = DEFAULT_FOLDER,
    *,
    config: PipelineConfig | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    parts: str | os.PathLike[str] | None = None,
    legacy: Sequence[str | os.PathLike[str]] = (),
    token: str | None = None,
    eval_faces: int = EVAL_FACES,
    poll_seconds: float = 1.0,
    warm_up: bool = True,
    hosts: frozenset[str] | None = None,
) -> StudioApp:
    """The studio app over ``folder`` (made if missing; one studio a folder), not yet serving. ``warm_up``
    loads the zero-training engine in a thread when the app starts, so the first dropped reference is quick.
    ``token``: the access token (default: the folder's, :func:`folder_token`); ``hosts``: the Host names it
    answers to (default any: :func:`serve` gives :func:`hosts_for` its address)."""
    from stylize.studio.jobs import JobManager, WorkerSetup
    from stylize.studio.server import create_app
    from stylize.studio.workspace import Workspace, lock_folder

    config = config or default_config()
    workspace = Workspace(folder, config, styles_dir=styles_dir, parts=parts, legacy=legacy)
    lock = lock_folder(workspace.folder)
    try:
        setup = WorkerSetup(
            config_path=str(config.path) if config.path is not None else None,
            styles_dir=str(workspace.styles_dir),
            parts=str(workspace.parts) if workspace.parts is not None else None,
            legacy=tuple(str(p) for p in workspace.legacy_sources),
            eval_faces=eval_faces,
            preview_seeds=tuple((config.content.seeds or [0, 1, 2, 3])[:4]),
        )
        jobs = JobManager(workspace.folder / "jobs", setup, workspace)
        token = token or folder_token(workspace.folder)
        app = create_app(workspace, jobs, token, poll_seconds=poll_seconds, warm_up=warm_up, hosts=hosts)
    except BaseException:
        lock.__exit__(None, None, None)
        raise
    return StudioApp(app, token, workspace, jobs, lock)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise StylizeError(
            f"cannot listen on {host}:{port} ({err.strerror}); give another port=N (0 picks a free one)",
            params=("port",),
        ) from err
    sock.listen(64)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    folder: str | os.PathLike[str] = DEFAULT_FOLDER,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    open_browser: bool = False,
    config: PipelineConfig | None = None,
    styles_dir: str | os.PathLike[str] | None = None,
    parts: str | os.PathLike[str] | None = None,
    legacy: Sequence[str | os.PathLike[str]] = (),
    eval_faces: int = EVAL_FACES,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the studio until Ctrl-C or SIGTERM; ``announce`` gets the address with its token (default:
    printed on stdout). A running job is asked to stop (a training saves a whole checkpoint) on the way out."""
    if not is_loopback(host):  # first: before the imports and the folder's setup take their seconds
        log.warning(
            "the studio listens on %s, which other machines can reach; anyone with the address and token can "
            "use it and write in %s",
            host,
            Path(folder).resolve(),
        )
    import uvicorn

    studio = open_studio(
        folder,
        config=config,
        styles_dir=styles_dir,
        parts=parts,
        legacy=legacy,
        eval_faces=eval_faces,
        hosts=hosts_for(host),
    )
    try:
        # made before the address is shown: its logging setup holds the logging module's lock, and a Ctrl-C or
        # SIGTERM that lands there (sent as soon as the address is seen) ends in a traceback, not the way out
        server = uvicorn.Server(uvicorn.Config(studio.app, log_level="warning", lifespan="on", access_log=False))
        sock = _bind(host, port)
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{sock.getsockname()[1]}/?token={studio.token}"
        (announce or (lambda line: print(line, flush=True)))(url)
        if open_browser:
            webbrowser.open(url)
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # the way out: uvicorn shuts down cleanly, then raises the Ctrl-C (or SIGTERM)
        pass  # again; or it came before the server ran
    finally:
        studio.close()
    print("studio stopped; its jobs and files are kept in " + str(studio.workspace.folder), file=sys.stderr)
