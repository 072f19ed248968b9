"""App media endpoints: files under ``<DocumentDirectory>/<appid>.media/`` and nowhere else.

A path is checked twice: by its text (no empty, ``.`` or ``..`` segment, not absolute, no backslash or NUL;
the router has already decoded ``%2F``, so an encoded slash is checked like a real one) → 400, and after
resolving symlinks (it must still be inside the app's media folder, and no part of it may be a link)
→ 404. Writes go to a temp file in the same folder and are renamed into place. The store treats the folder
as engine-owned, so load scripts can neither read nor write it.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from engine.app import store
from engine.errors import QixError
from engine.rest.apps import AppsApi
from engine.transport import HttpError, Request, Response, Router

if TYPE_CHECKING:
    from engine.server import Engine

#: names the thumbnail is looked for under, in this order
_THUMBNAILS = ("thumbnail.png", "thumbnail.jpg", "thumbnail.jpeg", "thumbnail.svg")


def _safe_relative(path: str) -> tuple[str, ...]:
    if path.startswith("/") or "\\" in path or "\0" in path:
        raise HttpError(400, "bad media path")
    parts = tuple(path.split("/")) if path else ()
    if any(p in ("", ".", "..") for p in parts):
        raise HttpError(400, "bad media path")
    return parts


def _resolve(root: Path, parts: tuple[str, ...]) -> Path:
    """``root/parts`` if it stays inside ``root`` with no symlink on the way; 404 otherwise."""
    real_root = Path(os.path.realpath(root))
    target = real_root.joinpath(*parts)
    walk = real_root
    for part in parts:
        walk = walk / part
        if walk.is_symlink():
            raise HttpError(404, "not found")
    if Path(os.path.realpath(target)) != target or not (target == real_root or real_root in target.parents):
        raise HttpError(404, "not found")
    return target


class MediaApi:
    def __init__(self, apps: AppsApi) -> None:
        self.apps = apps

    def _root(self, request: Request) -> Path:
        app_id = request.params["id"]
        facts = self.apps._facts(app_id)
        self.apps._gate(request, facts)
        try:
            return store.media_dir(self.apps.engine.apps.document_dir, app_id)
        except QixError:
            raise HttpError(404, "not found") from None

    async def get_file(self, request: Request) -> Response:
        parts = _safe_relative(request.params["path"])
        root = await asyncio.to_thread(self._root, request)
        target = _resolve(root, parts)
        if not target.is_file():
            raise HttpError(404, "not found")
        data = await asyncio.to_thread(target.read_bytes)
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return Response(200, data, [("Content-Type", kind)])

    async def put_file(self, request: Request) -> Response:
        parts = _safe_relative(request.params["path"])
        if not parts:
            raise HttpError(400, "bad media path")
        root = await asyncio.to_thread(self._root, request)
        body = await request.read()

        def write() -> None:
            root.mkdir(exist_ok=True)
            target = _resolve(root, parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            _resolve(root, parts)  # the folders just made are still ours and no links
            if target.is_dir():
                raise HttpError(400, "a folder of that name exists")
            tmp = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
            try:
                tmp.write_bytes(body)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)

        await asyncio.to_thread(write)
        return Response(200, b"")

    async def delete_file(self, request: Request) -> Response:
        parts = _safe_relative(request.params["path"])
        if not parts:
            raise HttpError(400, "bad media path")
        root = await asyncio.to_thread(self._root, request)

        def remove() -> None:
            target = _resolve(root, parts)
            if target.is_dir():
                shutil.rmtree(target)
            elif target.is_file():
                target.unlink()
            else:
                raise HttpError(404, "not found")

        await asyncio.to_thread(remove)
        return Response(200, b"")

    async def list_files(self, request: Request) -> Response:
        parts = _safe_relative(request.params.get("path", ""))
        root = await asyncio.to_thread(self._root, request)
        show = (request.query_params().get("show") or [""])[0].lower()
        recursive, empty_dirs = show in ("r", "recursive", "a", "all"), show not in ("r", "recursive")

        def listing() -> list[str]:
            if not root.exists() and not parts:
                return []
            base = _resolve(root, parts)
            if not base.is_dir():
                raise HttpError(404, "not found")
            out: list[str] = []
            _walk(base, base, recursive, empty_dirs, out)
            return sorted(out)

        return Response.json(await asyncio.to_thread(listing))

    async def thumbnail(self, request: Request) -> Response:
        root = await asyncio.to_thread(self._root, request)
        for name in _THUMBNAILS:
            target = root / name
            if target.is_file() and not target.is_symlink():
                kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return Response(200, await asyncio.to_thread(target.read_bytes), [("Content-Type", kind)])
        raise HttpError(404, "no thumbnail")


def _walk(base: Path, folder: Path, recursive: bool, empty_dirs: bool, out: list[str]) -> None:
    for entry in folder.iterdir():
        if entry.is_symlink() or entry.name.startswith("."):
            continue
        rel = entry.relative_to(base).as_posix()
        if entry.is_dir():
            empty = not any(entry.iterdir())
            if empty and empty_dirs:
                out.append(rel + "/")
            if recursive:
                _walk(base, entry, recursive, empty_dirs, out)
        else:
            out.append(rel)


def register(router: Router, apps: AppsApi, engine: Engine) -> MediaApi:
    api = MediaApi(apps)
    router.add("GET", "/v1/apps/{id}/media/files/{path:path}", api.get_file)
    router.add("PUT", "/v1/apps/{id}/media/files/{path:path}", api.put_file)
    router.add("DELETE", "/v1/apps/{id}/media/files/{path:path}", api.delete_file)
    router.add("GET", "/v1/apps/{id}/media/list", api.list_files)
    router.add("GET", "/v1/apps/{id}/media/list/{path:path}", api.list_files)
    router.add("GET", "/v1/apps/{id}/media/thumbnail", api.thumbnail)
    return api
