"""The checked-in gRPC modules are exactly what ``engine/connectors/qlik/generate.sh`` makes from
``connector.proto`` (with the pinned grpcio-tools), and the API keeps the wire facts Qlik documents."""

from __future__ import annotations

import filecmp
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.connectors.qlik import connector_pb2 as pb
from tests.harness import REPO

QLIK = REPO / "engine" / "connectors" / "qlik"
GENERATED = ("connector_pb2.py", "connector_pb2.pyi", "connector_pb2_grpc.py")
TOOLS_VERSION = "1.85.1"   # the grpcio-tools that made the checked-in modules (setup.cfg pins it for tests)


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    try:
        version = importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("grpcio-tools is not installed (pip install -e .[test])")
    if version != TOOLS_VERSION:
        pytest.skip(f"grpcio-tools {version} differs from the {TOOLS_VERSION} that generated the modules")
    tree = tmp_path / "repo"
    (tree / "engine" / "connectors" / "qlik").mkdir(parents=True)
    shutil.copy(QLIK / "connector.proto", tree / "engine" / "connectors" / "qlik")
    shutil.copy(QLIK / "generate.sh", tree / "engine" / "connectors" / "qlik")
    subprocess.run(["bash", str(tree / "engine" / "connectors" / "qlik" / "generate.sh"), sys.executable],
                   check=True, capture_output=True)
    for name in GENERATED:
        assert filecmp.cmp(QLIK / name, tree / "engine" / "connectors" / "qlik" / name, shallow=False), name


def test_wire_facts_of_the_data_connector_api() -> None:
    service = pb.DESCRIPTOR.services_by_name["Connector"]
    assert pb.DESCRIPTOR.package == "qlik.connect"
    get_data = service.methods_by_name["GetData"]
    assert get_data.input_type.name == "DataRequest" and get_data.output_type.name == "DataChunk"
    chunk = pb.DataChunk.DESCRIPTOR.fields_by_name
    assert [(f, chunk[f].number) for f in ("stringBucket", "doubleBucket", "stringCodes", "numberCodes")] == [
        ("stringBucket", 1), ("doubleBucket", 2), ("stringCodes", 3), ("numberCodes", 4)]
    assert pb.FieldAttrType.Value("INTEGER") == 10 and pb.SemanticType.Value("ISO_8601") == 2
