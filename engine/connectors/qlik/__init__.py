"""Qlik's gRPC Data Connector API: ``connector.proto`` and the Python modules generated from it."""
