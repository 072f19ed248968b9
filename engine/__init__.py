"""qix-engine: a drop-in stand-in for the Qlik Associative Engine (``qlikcore/engine``)."""

__version__ = "0.1.0"

#: What ``EngineVersion`` reports unless ``-S EngineVersion=`` says otherwise.
DEFAULT_ENGINE_VERSION = "12.1477.0"
