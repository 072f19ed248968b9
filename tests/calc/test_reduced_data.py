"""GetHyperCubeReducedData's calculation (``HyperCube.reduced_data_pages``): what sn-line-chart reads."""

from __future__ import annotations

from engine.calc.hypercube import HyperCube
from engine.model.selection import EMPTY_STATE, infer
from tests.calc.test_hypercube import cube_def
from tests.modelutil import make_model


def _cube(rows: int) -> HyperCube:
    model = make_model({"T": {"day": [f"d{i:04d}" for i in range(rows)], "amount": list(range(rows))}})
    return HyperCube(model, infer(model, EMPTY_STATE), cube_def(["day"], ["Sum(amount)"]))


def test_a_cube_that_fits_is_answered_as_get_hypercube_data():
    cube = _cube(30)
    page = {"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 2000}
    [reduced] = cube.reduced_data_pages([page], -1, "D1")
    [plain] = cube.data_pages([page])
    assert reduced["qIsReduced"] is False
    assert reduced["qMatrix"] == plain["qMatrix"] and reduced["qArea"] == plain["qArea"]
    assert len(reduced["qMatrix"]) == 30


def test_more_rows_than_asked_are_sampled_evenly_first_and_last_kept():
    cube = _cube(1000)
    [page] = cube.reduced_data_pages([{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 100}], -1, "D1")
    assert page["qIsReduced"] is True
    texts = [row[0]["qText"] for row in page["qMatrix"]]
    assert len(texts) == 100 == page["qArea"]["qHeight"]
    assert texts[0] == "d0000" and texts[-1] == "d0999" and texts == sorted(texts)
    assert [int(row[1]["qNum"]) for row in page["qMatrix"]] == [int(t[1:]) for t in texts]  # rows stay whole


def test_mode_n_never_reduces():
    cube = _cube(500)
    [page] = cube.reduced_data_pages([{"qTop": 0, "qLeft": 0, "qWidth": 2, "qHeight": 100}], -1, "N")
    assert page["qIsReduced"] is False and len(page["qMatrix"]) == 100
    assert page["qMatrix"][-1][0]["qText"] == "d0099"
