"""Data from databases and Qlik gRPC connectors, for ``LIB CONNECT`` / ``CUSTOM CONNECT`` + ``SQL SELECT``."""
