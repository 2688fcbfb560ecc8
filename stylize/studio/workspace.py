"""The studio's folder and what it holds: uploaded references and portraits, the faces to judge on, and
the styled faces it has rendered.

Nothing a request names becomes a path unchecked: faces, uploads and cached renders are found by ids
the studio made itself (``g12``, ``u<sha12>``, a render key), matched against a strict pattern, and
style names are looked up among the styles the studio lists. Uploads are decoded by the project's
image reader (:func:`stylize.imageio.read_image`) and stored as PNGs the studio encoded, named by their
hash, in ``DIR/uploads/``. Styles go where the command line finds them (the config's styles folder), as
ordinary style folders.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from stylize.config import PipelineConfig
from stylize.errors import ImageReadError, StylizeError
from stylize.files import read_json_object, write_json
from stylize.imageio import atomic_write_bytes, encode_png, find_images, read_image
from stylize.output_folder import FolderLock, make_folder

log = logging.getLogger("stylize.studio")
UPLOAD_NAMES = "names.json"  # beside the uploads: each stored file's own name
TRASH = ".trash"  # in the styles folder: deleted styles, one folder each (hidden: not listed)
TRASH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}~[0-9]{1,20}")

MAX_FACES = 16
MAX_ADDED_FACES = 8  # uploaded portraits shown beside a source's faces
MIN_FACES = 4
DEFAULT_FACES = 8
MAX_UPLOAD_FILES = 8
MAX_UPLOAD_BYTES = 20_000_000  # one file
MAX_UPLOAD_PIXELS = 40_000_000  # decoded; the reader's own bomb guard stops far larger ones
MAX_REQUEST_BYTES = MAX_UPLOAD_FILES * MAX_UPLOAD_BYTES + 1_000_000
MAX_STORED_UPLOADS = 500  # per kind: the studio refuses more rather than fill the disk
REF_THUMB_SIDE = 256
RENDER_CACHE_FILES = 4000  # rendered faces kept on disk; the oldest go first

FACE_ID = re.compile(r"(?:g(?P<seed>[0-9]{1,10})(?P<armoured>a?)|l(?P<legacy>[0-9]{1,5})|u(?P<upload>[0-9a-f]{12}))")
UPLOAD_NAME = re.compile(r"[0-9a-f]{12}\.png")
RENDER_KEY = re.compile(r"[0-9a-f]{32}")


class UploadError(StylizeError):
    """An upload the studio refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Face:
    id: str
    label: str
    rgb: np.ndarray
    alpha: np.ndarray | None
    stamp: tuple[int, int] | None = None  # a file's (mtime_ns, size) when read: a changed file is read again

    @cached_property
    def digest(self) -> str:
        """A hash of the pixels: renders are keyed by what they were made from, not by the face's id."""
        pixels = hashlib.sha256(np.ascontiguousarray(self.rgb).tobytes())
        pixels.update(str(self.rgb.shape).encode())
        if self.alpha is not None:
            pixels.update(np.ascontiguousarray(self.alpha).tobytes())
        return pixels.hexdigest()


def style_name_from(file_name: str) -> str:
    """A style name from a dropped file's name: its stem, lower case, runs of other characters as ``-``,
    at most 80 characters; "" when nothing usable is left."""
    import unicodedata

    stem = re.split(r"[\\/]", file_name)[-1].rsplit(".", 1)[0]
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()  # évé -> eve
    name = re.sub(r"[^a-z0-9_.]+", "-", stem).strip("-._")[:80].rstrip("-._")
    return name


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) an image file's header declares, read without decoding it; None when it has none
    that Pillow reads (the project's reader then says why, in one line)."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():  # a bomb's warning is this check's answer, not the user's to read
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Exception:  # any reason (a bomb past Pillow's own bound too): the full read names it
        return None
    return int(width), int(height)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


STUDIO_LOCK = ".studio.lock"


def lock_folder(folder: Path) -> FolderLock:
    """Hold ``folder/.studio.lock`` until the lock is released (``.__exit__``) or this process exits; a
    second studio on the same folder is refused at once, naming the process that has it."""
    lock = FolderLock(
        folder / STUDIO_LOCK,
        folder,
        param="dir",
        refuse="dir=DIR",
        busy="{folder}: another studio uses this folder ({holder}); stop it, or give another {refuse}",
    )
    return lock.__enter__()


def _thumbnail(rgb: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(rgb)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image)


class Workspace:
    """The studio folder, the faces and the styles; thread-safe where the server calls it from threads."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        config: PipelineConfig,
        *,
        styles_dir: str | os.PathLike[str] | None = None,
        parts: str | os.PathLike[str] | None = None,
        legacy: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.folder = Path(folder)
        self.config = config
        self.styles_dir = Path(styles_dir) if styles_dir is not None else config.styles.dir
        self.parts = Path(parts) if parts is not None else None
        self.legacy_sources = [Path(p) for p in (*config.content.legacy, *legacy)]
        for source in self.legacy_sources:
            if not source.exists():
                raise StylizeError(
                    f"{source}: legacy portrait folder not found; check the path given as legacy=DIR",
                    params=("legacy",),
                )
        make_folder(self.folder, param="dir")
        for sub in ("uploads/refs", "uploads/faces", "renders", "jobs", "exports"):
            make_folder(self.folder / sub, param="dir")
        self._lock = threading.Lock()  # guards the caches below
        self._render_lock = threading.Lock()  # one render at a time: the CPU is shared with the jobs
        self._generator: Any = None
        self._generator_error: str | None = None
        self._models: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._infos: dict[str, tuple[tuple[str, int], dict[str, Any]]] = {}
        self._faces: OrderedDict[str, Face] = OrderedDict()
        self._legacy_files: list[Path] | None = None
        self.warm = threading.Event()  # set once warm_up has run (or was not asked for)

    # --- faces ---
    def generator(self) -> Any:
        """The opened part tree (once), or ``StylizeError`` when it cannot be opened."""
        from stylize.content.compose import open_part_tree

        with self._lock:
            if self._generator is None and self._generator_error is None:
                try:
                    self._generator = open_part_tree(self.parts, self.config)
                except StylizeError as err:
                    self._generator_error = str(err)
            if self._generator is None:
                raise StylizeError(f"game faces are not available: {self._generator_error}")
            return self._generator

    def game_available(self) -> bool:
        try:
            self.generator()
            return True
        except StylizeError:
            return False

    def legacy_files(self) -> list[Path]:
        with self._lock:
            if self._legacy_files is None:
                self._legacy_files = (
                    [path for path, _ in find_images(self.legacy_sources)] if self.legacy_sources else []
                )
            return self._legacy_files

    def uploaded_faces(self) -> list[str]:
        """The uploaded portraits' ids, the latest first."""
        folder = self.folder / "uploads" / "faces"
        files = [p for p in folder.iterdir() if UPLOAD_NAME.fullmatch(p.name)]
        files.sort(key=lambda p: (-p.stat().st_mtime_ns, p.name))
        return [f"u{p.stem}" for p in files]

    def added_faces(self, add: str) -> list[str]:
        """The uploaded portraits' ids in ``add`` (comma-separated ``u<hash>``), checked: each an upload of this
        studio, at most :data:`MAX_ADDED_FACES`, each once."""
        ids = list(dict.fromkeys(part.strip() for part in add.split(",") if part.strip()))
        if len(ids) > MAX_ADDED_FACES:
            raise StylizeError(f"add: {len(ids)} portraits; put at most {MAX_ADDED_FACES} beside the faces")
        for face_id in ids:
            match = FACE_ID.fullmatch(face_id)
            if match is None or match["upload"] is None:
                raise StylizeError(f"add: {face_id[:40]!r} is not an uploaded portrait's id (u + 12 hex digits)")
        return ids

    def default_seeds(self) -> str:
        seeds = self.config.content.seeds[:DEFAULT_FACES]
        return ",".join(map(str, seeds)) if seeds else f"0-{DEFAULT_FACES - 1}"

    def list_faces(self, source: str, seeds: str = "", armoured: bool = False) -> list[str]:
        """Face ids for a source: ``game`` (the seeds given, 4 to 16), ``legacy`` or ``uploads`` (the first 16)."""
        from stylize.content.seeds import parse_seeds

        if source == "game":
            self.generator()
            picked = parse_seeds(seeds or self.default_seeds())
            if not MIN_FACES <= len(picked) <= MAX_FACES:
                raise StylizeError(f"seeds={seeds!r} gives {len(picked)} faces; give {MIN_FACES} to {MAX_FACES}")
            return [f"g{seed}{'a' if armoured else ''}" for seed in picked]
        if source == "legacy":
            files = self.legacy_files()
            if not files:
                raise StylizeError(
                    "no legacy portraits: start the studio with a folder of them (legacy=DIR, or [content] legacy)",
                    params=("legacy",),
                )
            return [f"l{index}" for index in range(min(len(files), MAX_FACES))]
        if source == "uploads":
            ids = self.uploaded_faces()
            if not ids:
                raise StylizeError("no uploaded portraits yet: drop some portraits on the faces panel")
            return ids[:MAX_FACES]
        raise StylizeError(f"source={source!r}: give game, legacy or uploads")

    def face(self, face_id: str) -> Face:
        """The face with id ``face_id`` (composited, read or uploaded), cached."""
        match = FACE_ID.fullmatch(face_id)
        if match is None:
            raise LookupError(f"face {face_id!r}: not a face id of this studio")
        with self._lock:
            cached = self._faces.get(face_id)
        if cached is not None and (cached.stamp is None or cached.stamp == _stamp(self._face_file(face_id))):
            with self._lock:
                if face_id in self._faces:
                    self._faces.move_to_end(face_id)
            return cached
        if match["seed"] is not None:
            from stylize.content.compose import compose_face
            from stylize.content.seeds import parse_seeds

            seed = parse_seeds(match["seed"])[0]
            composed = compose_face(self.generator(), seed, bool(match["armoured"]))
            face = Face(face_id, f"seed {seed}{' armoured' if composed.armoured else ''}", composed.rgb, None)
        elif match["legacy"] is not None:
            files = self.legacy_files()
            index = int(match["legacy"])
            if index >= len(files):
                raise LookupError(f"face {face_id!r}: there are {len(files)} legacy portraits")
            stamp = _stamp(files[index])
            image = read_image(files[index], what="portrait")
            face = Face(face_id, files[index].name, image.rgb, image.alpha, stamp)
        else:
            path = self.folder / "uploads" / "faces" / f"{match['upload']}.png"
            if not path.is_file():
                raise LookupError(f"face {face_id!r}: no such upload")
            image = read_image(path, what="portrait")
            label = self._upload_names(path.parent).get(match["upload"], f"upload {match['upload'][:6]}")
            face = Face(face_id, label, image.rgb, image.alpha)
        with self._lock:
            self._faces[face_id] = face
            while len(self._faces) > 64:
                self._faces.popitem(last=False)
        return face

    def _face_file(self, face_id: str) -> Path:
        """The file a legacy face ``face_id`` (a cached one, so a valid id) was read from."""
        match = FACE_ID.fullmatch(face_id)
        assert match is not None and match["legacy"] is not None
        return self.legacy_files()[int(match["legacy"])]

    def face_png(self, face_id: str) -> bytes:
        face = self.face(face_id)
        return encode_png(face.rgb, face.alpha)

    # --- uploads ---
    def store_uploads(self, files: Sequence[tuple[str, bytes]], kind: str) -> list[Path]:
        """Decode each ``(name, data)`` with the project's reader and store it as a PNG named by its hash
        under ``uploads/KIND/``; any bad file refuses the whole upload with one line naming it."""
        if not files:
            raise UploadError("no files in the upload; drop one or more images")
        if len(files) > MAX_UPLOAD_FILES:
            raise UploadError(f"{len(files)} files at once; drop at most {MAX_UPLOAD_FILES}", 413)
        folder = self.folder / "uploads" / kind
        if sum(1 for _ in folder.iterdir()) + len(files) > MAX_STORED_UPLOADS:
            raise UploadError(f"{folder}: holds {MAX_STORED_UPLOADS} uploads already; remove some files there", 413)
        encoded = []
        for name, data in files:
            shown = _display_name(name)
            if len(data) > MAX_UPLOAD_BYTES:
                raise UploadError(f"{shown}: {len(data)} bytes; an upload may be at most {MAX_UPLOAD_BYTES} bytes", 413)
            declared = _declared_size(data)  # from the header: a small file may declare a huge image
            if declared is not None and declared[0] * declared[1] > MAX_UPLOAD_PIXELS:
                raise UploadError(
                    f"{shown}: {declared[0]}x{declared[1]} pixels; give an image of at most "
                    f"{MAX_UPLOAD_PIXELS // 1_000_000} megapixels",
                    413,
                )
            try:
                image = read_image(Path(shown), what="image", fix="give a PNG, JPEG or WebP image", data=data)
            except ImageReadError as err:
                raise UploadError(str(err)) from None
            if image.rgb.shape[0] * image.rgb.shape[1] > MAX_UPLOAD_PIXELS:
                raise UploadError(
                    f"{shown}: {image.rgb.shape[1]}x{image.rgb.shape[0]} pixels; give an image of at most "
                    f"{MAX_UPLOAD_PIXELS // 1_000_000} megapixels",
                    413,
                )
            encoded.append((shown, encode_png(image.rgb, image.alpha)))
        paths = []
        names = self._upload_names(folder)
        for shown, png in encoded:
            path = folder / f"{hashlib.sha256(png).hexdigest()[:12]}.png"
            if path.is_file():
                os.utime(path)  # dropped again: it is the latest
            else:
                atomic_write_bytes(path, png)
            names[path.stem] = shown
            paths.append(path)
        write_json(folder / UPLOAD_NAMES, names, indent=1)  # the files' own names, for their labels
        return paths

    @staticmethod
    def _upload_names(folder: Path) -> dict[str, str]:
        """Uploaded files' own names by their stored hash (their labels); {} when none are kept."""
        kept = read_json_object(folder / UPLOAD_NAMES) or {}
        return {str(k): str(v)[:80] for k, v in kept.items() if isinstance(k, str) and isinstance(v, str)}

    # --- styles ---
    def style_names(self) -> list[str]:
        from stylize.inference.styles import list_styles

        return list_styles(self.styles_dir)

    # --- renaming and deleting (user styles only; a deleted one goes to the styles folder's .trash) ---
    def _user_style(self, name: str) -> Path:
        """The folder of the user's own style ``name``; a bundled style, or none, is refused in one line."""
        self.known_style(name)
        folder = self.styles_dir / name
        if not (folder / "model.json").is_file():
            raise StylizeError(f"style={name!r} is a bundled style; only your own styles can be renamed or deleted")
        return folder

    def rename_style(self, name: str, to: str) -> str:
        """Rename the user's style ``name`` to ``to`` (its folder moved, its model.json's name changed)."""
        from stylize.style_folder import check_style_name

        folder = self._user_style(name)
        to = to.strip() if isinstance(to, str) else ""
        check_style_name(to)
        target = self.styles_dir / to
        if to in self.style_names() or target.exists():
            raise StylizeError(f"name={to!r}: a style or folder of that name exists; choose another name")
        os.rename(folder, target)  # one step: the style is under one name or the other, never half
        metadata_path = target / "model.json"
        metadata = read_json_object(metadata_path)
        if metadata is not None and "name" in metadata:
            metadata["name"] = to
            write_json(metadata_path, metadata)  # model.json's own layout (indent 2)
        with self._lock:
            self._infos.pop(name, None)
        return to

    def delete_style(self, name: str) -> str:
        """Move the user's style ``name`` to ``.trash`` in the styles folder (not listed; kept until the studio
        folder's owner empties it); the id :meth:`restore_style` takes to undo it."""
        folder = self._user_style(name)
        trash = self.styles_dir / TRASH
        trash.mkdir(exist_ok=True)
        trash_id = f"{name}~{time.time_ns()}"
        os.rename(folder, trash / trash_id)
        with self._lock:
            self._infos.pop(name, None)
        return trash_id

    def stopped_trainings(self) -> list[dict[str, Any]]:
        """The folders in the styles folder that hold no style: a training stopped (cancelled, killed) before
        it wrote its first whole style. Each with the steps of its last whole checkpoint (0 and not resumable
        when it has none): listed, so they can be resumed or deleted rather than left unseen on disk."""
        from stylize.style_folder import is_style_name

        found = []
        try:
            folders = sorted(self.styles_dir.iterdir())
        except OSError:
            return []
        for folder in folders:
            name = folder.name
            if not is_style_name(name) or folder.is_symlink() or not folder.is_dir():
                continue
            if (folder / "model.json").exists():
                continue
            found.append({"name": name, **_checkpoint_steps(folder / ".checkpoint")})
        return found

    def delete_stopped(self, name: str) -> str:
        """Move a stopped training's folder (no style in it) to ``.trash``, as :meth:`delete_style` does."""
        if name not in {item["name"] for item in self.stopped_trainings()}:
            raise LookupError(f"{name!r}: no stopped training of that name in the styles folder")
        trash = self.styles_dir / TRASH
        trash.mkdir(exist_ok=True)
        trash_id = f"{name}~{time.time_ns()}"
        os.rename(self.styles_dir / name, trash / trash_id)
        return trash_id

    def restore_style(self, trash_id: str) -> str:
        """Undo a deletion: the style (or stopped training) back under its name (refused if that name has
        been taken since)."""
        if not TRASH_ID.fullmatch(trash_id):
            raise LookupError(f"{trash_id!r}: not a deleted style of this studio")
        kept = self.styles_dir / TRASH / trash_id
        if not kept.is_dir() or kept.is_symlink():
            raise LookupError(f"{trash_id!r}: no such deleted style (the trash was emptied?)")
        name = trash_id.split("~", 1)[0]
        if name in self.style_names() or (self.styles_dir / name).exists():
            raise StylizeError(f"style {name!r} exists again; rename it before restoring the deleted one")
        os.rename(kept, self.styles_dir / name)
        return name

    def style_info(self, name: str) -> dict[str, Any]:
        """What the page shows of a style; read once per version of its model.json."""
        from stylize.inference.styles import style_dir

        folder = style_dir(name, self.styles_dir)
        stamp = (str(folder), (folder / "model.json").stat().st_mtime_ns)
        with self._lock:
            if name in self._infos and self._infos[name][0] == stamp:
                return self._infos[name][1]
        info = self._read_style_info(name, folder)
        with self._lock:
            self._infos[name] = (stamp, info)
        return info

    def _read_style_info(self, name: str, folder: Path) -> dict[str, Any]:
        from stylize.bundled import bundled_styles_dir
        from stylize.inference.model_file import read_metadata
        from stylize.inference.reference_style import is_reference_metadata

        metadata = read_metadata(folder)
        zero = is_reference_metadata(metadata)
        arch = metadata.get("architecture", {})
        return {
            "name": name,
            "kind": "zero" if zero else "trained",
            "origin": "bundled" if folder.parent == bundled_styles_dir() else "user",
            "arch": "ghiasi" if zero else str(arch.get("name", "?")) if isinstance(arch, dict) else "?",
            "refs": [f"/api/ref/{name}/{index}.png" for index in range(len(metadata.get("references", [])))],
        }

    def styles(self) -> list[dict[str, Any]]:
        infos = []
        for name in self.style_names():
            try:
                infos.append(self.style_info(name))
            except StylizeError:  # a damaged folder is left out of the list; the CLI names its fault
                continue
        return infos

    def known_style(self, name: str) -> str:
        if name not in self.style_names():
            raise StylizeError(f"style={name!r}: no such style; pick one from the list")
        return name

    def reference_thumbnail(self, name: str, index: int) -> bytes:
        from stylize.inference.model_file import reference_files

        model = self.model(self.known_style(name))
        files = reference_files(model)
        if not 0 <= index < len(files):
            raise LookupError(f"style {name!r} has {len(files)} references")
        image = read_image(files[index], what="style reference")
        return encode_png(_thumbnail(image.rgb, REF_THUMB_SIDE))

    def make_reference_style(self, paths: Sequence[Path], name: str | None, file_name: str | None = None) -> str:
        """The zero-training style of these uploaded references, named ``name``, else after the first dropped
        file (``sketch.png`` -> ``sketch``; ``sketch-2`` when ``sketch`` holds other references); the same
        images under the same name give the same style, made once."""
        from stylize.inference.reference_style import make_style
        from stylize.style_folder import check_style_name

        if name and name.strip():
            chosen = name.strip()
            try:
                check_style_name(chosen)
            except StylizeError as err:
                raise UploadError(str(err)) from None
            if self._takes(chosen, paths, given=True):
                return chosen
        else:
            base = (
                style_name_from(file_name or "")
                or "ref-" + hashlib.sha256("\n".join(sorted(p.stem for p in paths)).encode()).hexdigest()[:8]
            )
            chosen = next(
                candidate
                for candidate in (base if n == 1 else f"{base[:95]}-{n}" for n in range(1, 1000))
                if self._takes(candidate, paths, given=False) is not False
            )
            if (self.styles_dir / chosen / "model.json").exists():
                return chosen
        make_style(chosen, [str(p) for p in paths], styles_dir=self.styles_dir, config=self.config)
        return chosen

    def _takes(self, name: str, paths: Sequence[Path], *, given: bool) -> bool | None:
        """Whether style ``name`` already is these references' style (True), is free (None), or is taken by
        something else (False; refused in one line when the user ``given`` the name)."""
        folder = self.styles_dir / name
        if (folder / "model.json").exists():
            if self._same_references(folder, paths):
                return True
            reason = "a style of that name exists with other references"
        elif folder.exists():  # no model.json yet: a training is writing it, or a folder of the user's
            reason = "a folder of that name is in the styles folder"
        elif name in self.style_names():
            reason = "a bundled style has that name"
        else:
            return None
        if given:
            raise UploadError(f"name={name!r}: {reason}; choose another name")
        return False

    @staticmethod
    def _same_references(folder: Path, paths: Sequence[Path]) -> bool:
        from stylize.files import parse_json, sha256_file

        try:
            metadata = parse_json((folder / "model.json").read_text(encoding="utf-8"))
            recorded = sorted(str(r.get("sha256")) for r in metadata.get("references", []))
        except (OSError, ValueError, AttributeError, StylizeError):
            return False
        return recorded == sorted(sha256_file(p) for p in paths)

    def model(self, spec: str) -> Any:
        """The loaded style (or mix ``a:0.6,b:0.4`` of zero styles) for ``spec``, cached by its files' state."""
        from stylize.inference.styles import load_mix, load_style, style_dir

        names = [part.split(":")[0].strip() for part in spec.split(",")]
        for name in names:
            self.known_style(name)
        stamp = ";".join(str(os.stat(style_dir(name, self.styles_dir) / "model.json").st_mtime_ns) for name in names)
        key = (spec, stamp)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        model = load_mix(spec, self.styles_dir) if ":" in spec else load_style(spec, self.styles_dir)
        with self._lock:
            self._models[key] = model
            while len(self._models) > 8:
                self._models.popitem(last=False)
        return model

    # --- rendering ---
    def _render_inputs(self, face_id: str, spec: str, settings: Any) -> tuple[str, Face, Any]:
        """The render's key (what it depends on, hashed: the face, the style's weights and the settings;
        the ETag and the cache's file name), the face and the style."""
        face = self.face(face_id)
        model = self.model(spec)
        key_text = json.dumps([face.digest, spec, model.weights_sha256, settings.record()], sort_keys=True)
        return hashlib.sha256(key_text.encode()).hexdigest()[:32], face, model

    def render_key(self, face_id: str, spec: str, settings: Any) -> str:
        """The key of a render with these ``ApplySettings``, without rendering (the server's ETag)."""
        return self._render_inputs(face_id, spec, settings)[0]

    def render(self, face_id: str, spec: str, settings: Any) -> bytes:
        """PNG bytes of face ``face_id`` in style ``spec`` with ``settings`` (``ApplySettings``): from the
        cache, or rendered (one at a time)."""
        import torch

        from stylize.inference.image import stylize_rgb

        key, face, model = self._render_inputs(face_id, spec, settings)
        path = self.folder / "renders" / f"{key}.png"
        if path.is_file():
            return path.read_bytes()
        with self._render_lock:
            if path.is_file():
                return path.read_bytes()
            with torch.inference_mode():
                rgb = stylize_rgb(model.network, face.rgb, "cpu", settings)
            png = encode_png(rgb, face.alpha)
            try:
                atomic_write_bytes(path, png)
                self._trim_renders()
            except (StylizeError, OSError) as err:  # a full disk: the render is good, only not kept
                log.warning("studio: render not cached (%s)", err)
        return png

    def warm_up(self) -> None:
        """Load what a first dropped reference needs (torch, the zero-training engine, the first faces), so
        its grid comes as fast as the next one's; the studio runs this in a thread when it starts."""
        import torch

        from stylize.bundled import asset_path
        from stylize.inference.image import stylize_rgb
        from stylize.inference.reference_style import in_memory_style

        try:
            faces = self.list_faces("game") if self.game_available() else []
            model = in_memory_style("warm-up", [asset_path("references/pencil.png")])
            with self._render_lock, torch.inference_mode():
                for face_id in faces[:1]:
                    stylize_rgb(model.network, self.face(face_id).rgb, "cpu")
            for face_id in faces[1:]:
                self.face(face_id)
        except Exception as err:  # a warm-up that fails costs only time; the request that needs it will say why
            import logging

            logging.getLogger("stylize").debug("studio warm-up failed: %s", err)
        finally:
            self.warm.set()

    def _trim_renders(self) -> None:
        files = list((self.folder / "renders").glob("*.png"))
        if len(files) <= RENDER_CACHE_FILES:
            return
        files.sort(key=lambda p: p.stat().st_mtime)
        for path in files[: len(files) - RENDER_CACHE_FILES]:
            path.unlink(missing_ok=True)


def _checkpoint_steps(folder: Path) -> dict[str, Any]:
    """``{"steps": N, "resumable": bool}`` of a training's checkpoint folder, from its progress file (the
    tensors are not read: the job's Resume checks them)."""
    from stylize.training.checkpoint import STATE_NAME, TENSORS_NAME

    state = read_json_object(folder / STATE_NAME) if (folder / STATE_NAME).is_file() else None
    step = state.get("step") if state else None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0 or not (folder / TENSORS_NAME).is_file():
        return {"steps": 0, "resumable": False}
    return {"steps": step, "resumable": True}


def _display_name(name: str) -> str:
    """An uploaded file's name for messages: its last component, printable, at most 80 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in base)[:80]
    return cleaned or "upload"
