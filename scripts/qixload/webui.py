"""The "QIX server" tab of Locust's web UI, and two pages beside it.

The tab uses Locust's documented extension points of the modern UI: ``extended_tabs`` and
``extended_tables`` in the template arguments, and ``extended_stats`` added to every ``/stats/requests``
answer (the UI polls it every couple of seconds, so the figures refresh live). ``/qix/server.csv`` gives the
raw samples, ``/qix/report`` the HTML report of the run so far.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask import Response, request

from qixload.report import render_html, server_rows
from qixload.server_figures import ServerSample

TAB = "qix-server"


def _rows(server: Mapping[str, float], latest: Mapping[str, float | None] | None) -> list[dict[str, str]]:
    rows = []
    if latest:
        now = [("active sessions now", latest.get("sessions"), "{:,.0f}"),
               ("RSS now", latest.get("rss_mib"), "{:.1f} MiB"),
               ("CPU per request, last interval", latest.get("cpu_ms_per_request"), "{:.3f} ms"),
               ("cache hit rate, last interval", latest.get("cache_hit_rate"), "{:.1%}")]
        rows += [{"figure": label, "value": fmt.format(v)} for label, v, fmt in now if v is not None]
    rows += [{"figure": label, "value": value} for label, value in server_rows(server)]
    return rows or [{"figure": "no samples yet", "value": "(does the engine answer /metrics or /healthcheck?)"}]


def install(web_ui: Any, figures_now: Callable[[], Mapping[str, float]],
            latest: Callable[[], Mapping[str, float | None] | None], samples: Callable[[], Sequence[ServerSample]],
            summary: Callable[[], Mapping[str, Any]]) -> None:
    """Register the tab and the pages on Locust's Flask app."""
    web_ui.template_args["extended_tabs"] = [{"title": "QIX server", "key": TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB, "structure": [{"key": "figure", "title": "Server figure"}, {"key": "value", "title": "Value"}]}]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./qix/server.csv", "title": "Download QIX server samples CSV"},
        {"href": "./qix/report", "title": "QIX report (HTML, readable without Locust)"}]
    app = web_ui.app

    @app.after_request
    def add_server_figures(response: Response) -> Response:
        if request.path.rstrip("/").endswith("/stats/requests") and response.is_json:
            body = response.get_json()
            body["extended_stats"] = [{"key": TAB, "data": _rows(figures_now(), latest())}]
            response.set_data(json.dumps(body))
        return response

    @app.route("/qix/server.csv")
    def server_csv() -> Response:
        out = io.StringIO()
        fields = list(ServerSample.__dataclass_fields__)
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for sample in samples():
            writer.writerow(sample.as_dict())
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=qix_server_samples.csv"})

    @app.route("/qix/report")
    def report_page() -> Response:
        return Response(render_html(summary()), mimetype="text/html")
