"""Apps (documents) and the per-session view of an app.

An :class:`App` is shared by every session that opens it: script, properties, objects, the current data
model. A :class:`DocSession` is one session's view of an app: its selections, its session objects, its
section-access reduction. Versions are counters the session layer compares to know what went stale.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from engine.model.datamodel import DataModel

DEFAULT_SCRIPT = (
    "SET ThousandSep=',';\n"
    "SET DecimalSep='.';\n"
    "SET MoneyThousandSep=',';\n"
    "SET MoneyDecimalSep='.';\n"
    "SET MoneyFormat='$#,##0.00;-$#,##0.00';\n"
    "SET TimeFormat='h:mm:ss TT';\n"
    "SET DateFormat='M/D/YYYY';\n"
    "SET TimestampFormat='M/D/YYYY h:mm:ss[.fff] TT';\n"
    "SET FirstWeekDay=6;\n"
    "SET BrokenWeeks=1;\n"
    "SET ReferenceDay=0;\n"
    "SET FirstMonthOfYear=1;\n"
    "SET CollationLocale='en-US';\n"
    "SET MonthNames='Jan;Feb;Mar;Apr;May;Jun;Jul;Aug;Sep;Oct;Nov;Dec';\n"
    "SET LongMonthNames='January;February;March;April;May;June;July;August;September;October;November;December';\n"
    "SET DayNames='Mon;Tue;Wed;Thu;Fri;Sat;Sun';\n"
    "SET LongDayNames='Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday';\n"
)


def utc_timestamp() -> str:
    """The engine's timestamp form, e.g. ``2026-11-28T18:39:00.000Z``."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


@dataclass
class App:
    """A document, shared by all sessions that have it open."""

    app_id: str
    title: str
    is_session_app: bool = False
    script: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    model: DataModel = field(default_factory=DataModel.empty)
    last_reload_time: str = ""
    file_name: str = ""
    #: bumped when the data model is swapped (reload)
    data_version: int = 0
    #: bumped by SetAppProperties
    props_version: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def app_properties(self) -> dict[str, Any]:
        props = {
            "qTitle": self.title,
            "qLastReloadTime": self.last_reload_time,
            "qMigrationHash": "",
            "qSavedInProductVersion": "",
            "qThumbnail": {"qUrl": ""},
            "qHasSectionAccess": False,
        }
        props.update(copy.deepcopy(self.properties))
        return props

    def set_app_properties(self, props: dict[str, Any]) -> None:
        props = copy.deepcopy(props)
        title = props.get("qTitle")
        if isinstance(title, str) and title:
            self.title = title
        self.properties = {k: v for k, v in props.items() if k not in ("qLastReloadTime",)}
        self.props_version += 1


class DocSession:
    """One session's view of an app (the target of the ``Doc`` handle)."""

    def __init__(self, app: App, identity: Any, no_data: bool = False) -> None:
        self.app = app
        self.identity = identity
        self.no_data = no_data

    def version(self) -> tuple[int, int]:
        return (self.app.props_version, self.app.data_version)

    @property
    def locale_info(self) -> dict[str, Any]:
        return locale_info()

    def app_layout(self) -> dict[str, Any]:
        app = self.app
        return {
            "qTitle": app.title,
            "qFileName": app.file_name or app.app_id,
            "qLastReloadTime": app.last_reload_time,
            "qModified": False,
            "qHasScript": bool(app.script.strip()),
            "qStateNames": [],
            "qMeta": {"privileges": ["read", "update", "delete", "reload", "export", "exportdata"]},
            "qLocaleInfo": self.locale_info,
            "qHasData": bool(app.model.tables),
            "qReadOnly": False,
            "qIsOpenedWithoutData": self.no_data,
            "qIsSessionApp": app.is_session_app,
            "qProhibitBinaryLoad": False,
            "qThumbnail": {"qUrl": ""},
            "qUnsupportedFeatures": [],
            "qUsage": "ANALYTICS",
            "qHasSectionAccess": False,
            **{k: v for k, v in copy.deepcopy(app.properties).items() if not k.startswith("q")},
        }


def locale_info() -> dict[str, Any]:
    return {
        "qDecimalSep": ".",
        "qThousandSep": ",",
        "qListSep": ";",
        "qMoneyDecimalSep": ".",
        "qMoneyThousandSep": ",",
        "qCurrentYear": time.gmtime().tm_year,
        "qMoneyFmt": "$#,##0.00;-$#,##0.00",
        "qTimeFmt": "h:mm:ss TT",
        "qDateFmt": "M/D/YYYY",
        "qTimestampFmt": "M/D/YYYY h:mm:ss[.fff] TT",
        "qCalendarStrings": {
            "qDayNames": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            "qMonthNames": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
            "qLongDayNames": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
            "qLongMonthNames": ["January", "February", "March", "April", "May", "June", "July", "August",
                                "September", "October", "November", "December"],
        },
        "qFirstWeekDay": 6,
        "qBrokenWeeks": True,
        "qReferenceDay": 0,
        "qFirstMonthOfYear": 1,
        "qCollation": "en-US",
        "qNumericalAbbreviation": "3:k;6:M;9:G;12:T;15:P;18:E;21:Z;24:Y;-3:m;-6:μ;-9:n;-12:p;-15:f;-18:a;-21:z;-24:y",
    }
