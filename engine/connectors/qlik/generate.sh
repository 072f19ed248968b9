#!/usr/bin/env bash
# Regenerates connector_pb2.py, connector_pb2.pyi and connector_pb2_grpc.py from connector.proto.
# The generated modules are checked in: the engine then needs only the grpcio and protobuf runtimes,
# not grpcio-tools; tests/connectors/test_proto.py checks that they match what this script makes.
# Run from anywhere: bash engine/connectors/qlik/generate.sh [python]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
python="${1:-python}"
cd "$root"
"$python" -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
  engine/connectors/qlik/connector.proto
