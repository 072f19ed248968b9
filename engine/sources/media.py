"""Meta tags of media files, for the script function ``Attribute(filename, attributename)``.

The reference lists MP3 (ID3v1 names such as ``Title`` and ID3v2.3 frame ids such as ``TIT2``), WMA/WMV
(ASF attributes), PNG (text chunks) and JPG (EXIF, with its Exif, GPS and interoperability parts). Each
is read with a well-kept library: mutagen for the audio and video containers, Pillow for the images;
neither decodes sound or pixels, only the headers that hold the tags. A file that is missing, of
another format, damaged, or without the tag gives None (NULL), as Qlik does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: ID3v1 names → the ID3v2 frames holding them (v2.3 first, then what mutagen makes of v2.4 / v1)
_ID3_NAMES: dict[str, tuple[str, ...]] = {
    "title": ("TIT2",), "artist": ("TPE1",), "album": ("TALB",), "year": ("TYER", "TDRC"),
    "comment": ("COMM",), "track": ("TRCK",), "genre": ("TCON",),
}  # fmt: skip
#: EXIF interoperability tags by the names the reference uses
_INTEROP = {
    1: "InteroperabilityIndex",
    2: "InteroperabilityVersion",
    0x1000: "InteroperabilityRelatedImageFileFormat",
    0x1001: "InteroperabilityRelatedImageWidth",
    0x1002: "InteroperabilityRelatedImageLength",
}
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005


def _text(value: Any) -> str | None:
    """A tag value as text: bytes decoded, rationals as numbers, sequences joined with ", "."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("utf-8", errors="replace")
    if isinstance(value, tuple | list):
        parts = [_text(v) for v in value]
        return ", ".join(p for p in parts if p is not None)
    if hasattr(value, "numerator") and hasattr(value, "denominator") and not isinstance(value, int):
        x = float(value.numerator) / float(value.denominator) if value.denominator else float("nan")
        return str(int(x)) if x == int(x) else repr(x)
    return str(value)


def _mp3(path: Path, name: str) -> str | None:
    from mutagen import id3

    read: Any = id3.ID3  # mutagen's readers are not typed
    try:
        tags: Any = read(path, translate=False)
    except id3.ID3NoHeaderError:
        return None
    for frame_id in _ID3_NAMES.get(name.lower(), (name.upper(),)):
        frames = tags.getall(frame_id)
        if frames:
            frame = frames[0]
            text = getattr(frame, "text", None)
            return "; ".join(str(t) for t in text) if text is not None else str(frame)
    return None


def _asf(path: Path, name: str) -> str | None:
    from mutagen import asf

    read: Any = asf.ASF
    tags: Mapping[str, Any] = read(path).tags or {}
    for key, values in tags.items():
        if key.lower() == name.lower():
            return "; ".join(str(v.value) if hasattr(v, "value") else str(v) for v in values)
    return None


def _png(path: Path, name: str) -> str | None:
    from PIL import Image

    with Image.open(path) as im:
        info = im.info  # text chunks ahead of the image data; the pixels are not decoded
    for key, value in info.items():
        if isinstance(key, str) and key.lower() == name.lower() and isinstance(value, str):
            return value
    return None


def _jpg(path: Path, name: str) -> str | None:
    from PIL import ExifTags, Image

    with Image.open(path) as im:
        exif = im.getexif()  # read from the file's EXIF segment; the pixels are not decoded
    parts: list[tuple[Mapping[int, Any], Mapping[int, str]]] = [
        (exif, ExifTags.TAGS),
        (exif.get_ifd(_EXIF_IFD), ExifTags.TAGS),
        (exif.get_ifd(_GPS_IFD), ExifTags.GPSTAGS),
        (exif.get_ifd(_INTEROP_IFD), _INTEROP),
    ]
    want = name.lower()
    for tags, names in parts:
        for tag, value in tags.items():
            if names.get(tag, "").lower() == want:
                return _text(value)
    return None


_READERS: dict[str, Callable[[Path, str], str | None]] = {
    "mp3": _mp3, "wma": _asf, "wmv": _asf, "asf": _asf, "png": _png, "jpg": _jpg, "jpeg": _jpg,
}  # fmt: skip


def media_attribute(path: Path, name: str) -> str | None:
    """The meta tag ``name`` of the media file at ``path`` as text, or None."""
    reader = _READERS.get(path.suffix.lower().lstrip("."))
    if reader is None or not path.is_file():
        return None
    try:
        return reader(path, name)
    except Exception:  # noqa: BLE001 - a damaged or mislabelled file has no tags (NULL), as in Qlik
        return None
