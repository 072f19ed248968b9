"""qe-api-client (PyPI) against the engine: a real third-party Python client, used as its users use it.

The client is strict in ways enigma.js is not: it sends ``"id": 0`` on nearly every call, mixes positional
and named params (and ``"params": {}``), and reads exactly one frame per request, so any frame the engine
pushes unprompted on the same socket shifts every later answer. These tests run its public API (create an
app, set a script, reload, select, pull a table through hypercube pages of at most 10,000 cells) and check
that nothing stray is left on the socket.
"""

from __future__ import annotations

import json
import uuid

import pytest
import websocket
from qe_api_client.engine import QixEngine

ROWS = 8000
REGIONS = ("North", "South", "East", "West")
SCRIPT = f"""
Data:
LOAD
  RecNo() AS Id,
  Pick(Mod(RecNo(), 4) + 1, 'North', 'South', 'East', 'West') AS Region,
  RecNo() * 2 AS Value
AUTOGENERATE {ROWS};
"""



def region_of(i: int) -> str:
    return REGIONS[i % 4]


@pytest.fixture
def qe(engine):
    """A qe-api-client connection on its own session (a fresh ``/identity/``)."""
    client = QixEngine(url=engine.url(f"/app/engineData/identity/qe-{uuid.uuid4().hex[:8]}"))
    yield client
    client.disconnect()


def assert_quiet(client: QixEngine) -> None:
    """Nothing unsolicited is waiting on the socket (the client would take it for its next answer)."""
    ws = client.conn.ws
    ws.settimeout(0.3)
    try:
        stray = ws.recv()
    except websocket.WebSocketTimeoutException:
        stray = None
    finally:
        ws.settimeout(None)
    assert stray is None, f"unsolicited frame on a qe-api-client socket: {stray}"


def raw_call(client: QixEngine, payload: dict) -> dict:
    return json.loads(client.conn.send_call(client.conn, json.dumps(payload)))


def new_app(client: QixEngine, tmp_name: str) -> int:
    created = client.ega.create_app(tmp_name)
    assert created["qSuccess"] is True, created
    doc = client.ega.open_doc(created["qAppId"])
    assert doc["qType"] == "Doc" and doc["qHandle"] > 0, doc
    return doc["qHandle"]


def test_first_frame_and_global_calls(qe):
    session = json.loads(qe.conn.session)
    assert session == {"jsonrpc": "2.0", "method": "OnConnected", "params": {"qSessionState": "SESSION_CREATED"}}
    assert isinstance(qe.ega.get_os_name(), str)
    assert isinstance(qe.ega.get_doc_list(), list)
    assert isinstance(qe.ega.get_auth_user()["qReturn"], str)  # sent with "params": {}
    assert qe.ega.configure_reload(True, True, False) == {}  # named params
    assert qe.ega.get_odbc_dsns() == {"qOdbcDsns": []}
    # every answer echoes the id it was given, here the 0 the client always sends
    answer = raw_call(qe, {"jsonrpc": "2.0", "id": 0, "handle": -1, "method": "ProductVersion", "params": {}})
    assert answer["id"] == 0 and isinstance(answer["result"]["qReturn"], str)
    assert_quiet(qe)


def test_create_app_script_reload_and_fields(qe):
    handle = new_app(qe, f"qe-fields-{uuid.uuid4().hex[:8]}")
    assert qe.eaa.set_script(handle, SCRIPT) == {}
    assert qe.eaa.get_script(handle) == SCRIPT
    assert qe.eaa.do_reload(handle) == {"qReturn": True}
    fields = qe.get_app_fields(handle)
    assert sorted(fields["qName"]) == ["Id", "Region", "Value"]
    cardinals = dict(zip(fields["qName"], fields["qCardinal"], strict=True))
    assert cardinals == {"Id": ROWS, "Region": 4, "Value": ROWS}
    region = qe.eaa.get_field(handle, "Region")
    assert region["qType"] == "Field" and region["qHandle"] > 0
    assert qe.efa.get_cardinal(region["qHandle"]) == 4
    assert qe.eaa.do_save(handle) == {}
    assert_quiet(qe)


def test_errors_come_back_as_the_response_error(qe):
    missing = qe.ega.open_doc(f"no-such-app-{uuid.uuid4().hex[:8]}")
    assert missing["code"] == 1003
    assert qe.ega.get_active_doc()["code"] == 1007
    assert_quiet(qe)


def test_select_values_and_list_states(qe):
    handle = new_app(qe, f"qe-select-{uuid.uuid4().hex[:8]}")
    qe.eaa.set_script(handle, SCRIPT)
    assert qe.eaa.do_reload(handle) == {"qReturn": True}
    assert qe.select_in_field(handle, "Region", ["North", "South"]) is True
    # (QixEngine.get_list_object_data passes its page as list_object_def's 4th positional argument,
    # auto_sort_by_state, so it never fetches rows from any engine; build the list object by keyword)
    list_def = qe.structs.list_object_def(
        definition=qe.structs.nx_inline_dimension_def(field_definitions=["Region"]),
        initial_data_fetch=[qe.structs.nx_page(width=1, height=10)])
    props = qe.structs.generic_object_properties(info=qe.structs.nx_info(obj_type="ListObject"),
                                                 prop_name="qListObjectDef", prop_def=list_def)
    list_obj = qe.eaa.create_session_object(handle, props)
    matrix = qe.egoa.get_layout(list_obj["qHandle"])["qListObject"]["qDataPages"][0]["qMatrix"]
    states = {row[0]["qText"]: row[0]["qState"] for row in matrix}
    assert states == {"North": "S", "South": "S", "East": "X", "West": "X"}
    assert qe.eaa.expr_eval(handle, "Count(Id)")["qValue"]["qText"] == str(ROWS // 2)
    assert qe.clear_selection_in_dimension(handle, "Region") == {"qReturn": True}
    assert qe.eaa.expr_eval(handle, "Count(Id)")["qValue"]["qText"] == str(ROWS)
    assert_quiet(qe)


def test_constructed_table_pages_of_at_most_10000_cells(qe):
    handle = new_app(qe, f"qe-table-{uuid.uuid4().hex[:8]}")
    qe.eaa.set_script(handle, SCRIPT)
    assert qe.eaa.do_reload(handle) == {"qReturn": True}
    assert qe.select_in_field(handle, "Region", ["North", "South"]) is True
    requested: list[dict] = []
    fetch = qe.egoa.get_hypercube_data

    def counting_fetch(handle: int, path: str, pages: list) -> dict:
        requested.extend(pages)
        return fetch(handle, path, pages)

    qe.egoa.get_hypercube_data = counting_fetch
    df = qe.get_constructed_table_data(handle, list_of_dimensions=["Id", "Region"], list_of_measures=["Sum(Value)"])
    # 4,000 rows x 3 columns: the client asks for floor(10000 / 3) = 3,333 rows a page, so two pages
    assert [(p["qTop"], p["qHeight"], p["qWidth"]) for p in requested] == [(0, 3333, 3), (3333, 3333, 3)]
    assert all(p["qHeight"] * p["qWidth"] <= 10000 for p in requested)
    assert list(df.columns) == ["Id", "Region", "Sum(Value)"]
    assert len(df) == ROWS // 2
    expected = {str(i): (region_of(i), str(2 * i)) for i in range(1, ROWS + 1) if region_of(i) in ("North", "South")}
    got = {row[0]: (row[1], row[2]) for row in df.itertuples(index=False)}
    assert got == expected
    assert_quiet(qe)


def test_master_items_with_named_params(qe):
    handle = new_app(qe, f"qe-master-{uuid.uuid4().hex[:8]}")
    qe.eaa.set_script(handle, SCRIPT)
    assert qe.eaa.do_reload(handle) == {"qReturn": True}
    measure = qe.create_master_measure(handle, "Total value", "Sum(Value)")
    assert measure["qGenericId"] and measure["qHandle"] > 0, measure
    dimension = qe.create_single_master_dimension(handle, "Region", "Region")
    assert dimension["qGenericId"] and dimension["qHandle"] > 0, dimension
    measures = qe.get_app_measures(handle)
    assert list(measures["qMeta_title"]) == ["Total value"]
    assert_quiet(qe)


def test_changes_from_the_same_socket_are_not_pushed(qe):
    """Every call that changes state answers on its own frame; no id-less frame follows it."""
    app = qe.ega.create_session_app()
    handle = app["qReturn"]["qHandle"]
    assert app["qSessionAppId"].startswith("SessionApp_")
    obj = qe.eaa.create_session_object(handle, {"qInfo": {"qType": "probe"}, "n": 1})
    layout = qe.egoa.get_layout(obj["qHandle"])
    assert layout["n"] == 1
    assert raw_call(qe, {"jsonrpc": "2.0", "id": 0, "handle": obj["qHandle"], "method": "SetProperties",
                         "params": {"qProp": {"qInfo": layout["qInfo"], "n": 2}}})["result"] == {}
    assert qe.egoa.get_layout(obj["qHandle"])["n"] == 2
    qe.eaa.set_script(handle, "T: LOAD RecNo() AS N AUTOGENERATE 3;")
    assert qe.eaa.do_reload(handle) == {"qReturn": True}
    assert_quiet(qe)


def test_changes_from_another_socket_arrive_as_one_id_less_frame(engine):
    """Two clients sharing one session: only the socket that did not make the change gets a push."""
    url = engine.url(f"/app/engineData/identity/qe-shared-{uuid.uuid4().hex[:8]}")
    first, second = QixEngine(url=url), QixEngine(url=url)
    try:
        assert json.loads(second.conn.session)["params"]["qSessionState"] == "SESSION_ATTACHED"
        handle = first.ega.create_session_app()["qReturn"]["qHandle"]
        obj = first.eaa.create_session_object(handle, {"qInfo": {"qType": "shared"}, "n": 1})
        layout = first.egoa.get_layout(obj["qHandle"])
        assert_quiet(first)
        answer = raw_call(second, {"jsonrpc": "2.0", "id": 0, "handle": obj["qHandle"], "method": "SetProperties",
                                   "params": {"qProp": {"qInfo": layout["qInfo"], "n": 2}}})
        assert answer["id"] == 0 and answer["result"] == {}
        assert_quiet(second)
        first.conn.ws.settimeout(2)
        push = json.loads(first.conn.ws.recv())
        first.conn.ws.settimeout(None)
        assert "id" not in push and obj["qHandle"] in push["change"], push
        assert_quiet(first)
        assert first.egoa.get_layout(obj["qHandle"])["n"] == 2
    finally:
        first.disconnect()
        second.disconnect()
