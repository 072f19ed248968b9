"""Attribute, ConnectString and GetFolderPath over the socket, as the Qlik file-function reference
documents them: Attribute reads MP3 (ID3v1 names and ID3v2.3 frame ids), PNG and JPG (EXIF) meta tags
as text and is NULL for anything else; ConnectString names the active connection, '' before CONNECT
and after DISCONNECT; GetFolderPath is refused in standard mode and gives a user folder in legacy mode.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from mutagen.id3 import COMM, ID3, TIT2, TPE1, TYER
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.harness import Client


def _media(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "song.mp3").write_bytes(b"\xff\xfb\x90\x00" + bytes(400))
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Song"))
    tags.add(TPE1(encoding=3, text="Band"))
    tags.add(TYER(encoding=3, text="1999"))
    tags.add(COMM(encoding=3, lang="eng", desc="", text="nice"))
    tags.save(folder / "song.mp3", v2_version=3)
    image = Image.new("RGB", (4, 4))
    info = PngInfo()
    info.add_text("Title", "Sunset")
    image.save(folder / "pic.png", pnginfo=info)
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif.get_ifd(0x8825)[1] = "N"  # GPSLatitudeRef
    exif.get_ifd(0x8769)[0x9003] = "2021:05:01 10:00:00"  # DateTimeOriginal
    image.save(folder / "photo.jpg", exif=exif)
    (folder / "notes.txt").write_text("no tags here")


async def _reload(c: Client, h: int, script: str, rid: int) -> str | None:
    """Reload; None when it succeeds, else the error text."""
    await c.call("SetScript", h, script)
    resp = await c.request("DoReload", h, [], request_id=rid)
    if resp["result"]["qReturn"]:
        return None
    return (await c.call("GetProgress", -1, rid))["qProgressData"]["qErrorData"][0]["qErrorString"]


async def _rows(c: Client, h: int, table: str) -> list[tuple[str, ...]]:
    data = await c.call("GetTableData", h, 0, 100, False, table)
    return [tuple(cell["qText"] for cell in row["qValue"]) for row in data["qData"]]


ATTRIBUTES = """FOR EACH vFile IN FileList('lib://media/*.*')
Tags:
LOAD SubField('$(vFile)', '/', -1) AS File,
    Attribute('$(vFile)', 'Title') AS Title,
    Attribute('$(vFile)', 'Artist') AS Artist,
    Attribute('$(vFile)', 'Year') AS Year,
    Attribute('$(vFile)', 'Comment') AS Comment,
    Attribute('$(vFile)', 'TPE1') AS TPE1,
    Attribute('$(vFile)', 'Make') AS Make,
    Attribute('$(vFile)', 'GPSLatitudeRef') AS GPSLatitudeRef,
    Attribute('$(vFile)', 'DateTimeOriginal') AS Taken
AUTOGENERATE 1;
NEXT vFile
Missing: LOAD Attribute('lib://media/nofile.mp3', 'Title') AS Nothing AUTOGENERATE 1;
"""


def test_attribute_reads_media_meta_tags(engine_factory, tmp_path: Path) -> None:
    _media(tmp_path / "data" / "media")
    engine = engine_factory()

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/attr")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call(
                "CreateConnection",
                h,
                {"qName": "media", "qType": "folder", "qConnectionString": str(tmp_path / "data" / "media")},
            )
            assert await _reload(c, h, ATTRIBUTES, 1) is None
            got = {row[0]: row[1:] for row in await _rows(c, h, "Tags")}
            assert got == {
                "notes.txt": ("-",) * 8,
                "photo.jpg": ("-", "-", "-", "-", "-", "Canon", "N", "2021:05:01 10:00:00"),
                "pic.png": ("Sunset", "-", "-", "-", "-", "-", "-", "-"),
                "song.mp3": ("Song", "Band", "1999", "nice", "Band", "-", "-", "-"),
            }
            assert await _rows(c, h, "Missing") == [("-",)]
            # a file function: charts do not have it
            ev = await c.call("Evaluate", h, "Attribute('lib://media/song.mp3', 'Title')")
            assert ev["qReturn"] == "Error: Unknown function: ATTRIBUTE"

    asyncio.run(scenario())


def test_connect_string_names_the_active_connection(engine_factory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "shop.db") as db:
        db.execute("CREATE TABLE t (a INTEGER)")
        db.execute("INSERT INTO t VALUES (1)")
    engine = engine_factory(f"FolderConnectionRoots={data}")
    script = """Before: LOAD ConnectString() AS C AUTOGENERATE 1;
LIB CONNECT TO 'Tutorial ODBC';
ConnectString: LOAD ConnectString() AS ConnectString AutoGenerate 1;
DISCONNECT;
After: LOAD ConnectString() AS D AUTOGENERATE 1;
"""

    async def scenario() -> None:
        async with Client.open(engine.url("/app/engineData/identity/connstr")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            await c.call(
                "CreateConnection",
                h,
                {"qName": "Tutorial ODBC", "qType": "sqlite", "qConnectionString": "sqlite:///shop.db"},
            )
            assert await _reload(c, h, script, 2) is None
            assert await _rows(c, h, "ConnectString") == [("Tutorial ODBC",)]
            assert await _rows(c, h, "Before") == [("",)]
            assert await _rows(c, h, "After") == [("",)]

    asyncio.run(scenario())


GETFOLDERPATH = """LOAD
    GetFolderPath('MyMusic') as MyMusic,
    GetFolderPath('MyPictures') as MyPictures,
    GetFolderPath('Windows') as Windows
AutoGenerate 1;
"""


def test_get_folder_path_only_in_legacy_mode(engine_factory) -> None:
    standard = engine_factory()
    legacy = engine_factory("StandardReload=0")

    async def scenario() -> None:
        async with Client.open(standard.url("/app/engineData/identity/gfp")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            err = await _reload(c, h, GETFOLDERPATH, 3)
            assert err is not None and "GetFolderPath" in err and "standard mode" in err
        async with Client.open(legacy.url("/app/engineData/identity/gfp2")) as c:
            h = (await c.call("CreateSessionApp"))["qReturn"]["qHandle"]
            assert await _reload(c, h, GETFOLDERPATH, 4) is None
            row = (await c.call("GetTableData", h, 0, 1, False, "AUTOGENERATE01"))["qData"][0]["qValue"]
            assert [v["qText"] for v in row] == [
                str(Path.home() / "Music"),
                str(Path.home() / "Pictures"),
                "-",
            ]

    asyncio.run(scenario())
