"""Data from databases and Qlik gRPC connectors: what ``LIB CONNECT`` / ``CUSTOM CONNECT`` + ``SQL …`` read.

Modules, in the order data flows:

* ``state``: the runner's side — one per reload: CONNECT / DISCONNECT / SQL / SQLTables… on the current
  connection, failures turned into the script's errors;
* ``databases``: connection strings → drivers (ADBC PostgreSQL and SQLite, DuckDB, SQLAlchemy), the file
  policy for database files, catalogs; ``grpc_source`` + ``chunks``: Qlik's Data Connector API client
  and its chunk format (``qlik/``: the .proto and its generated modules); ``targets``: connector strings;
* ``stream``: a result read in a background thread while the previous batch is encoded;
* ``columns``: Arrow batches → symbol tables and codes (the model's columns);
* ``config``: the gRPC connector settings; ``secrets``: masking credentials; ``errors``: ConnectorError.
"""
