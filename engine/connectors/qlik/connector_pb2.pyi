from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SemanticType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEFAULT: _ClassVar[SemanticType]
    UNIX_SECONDS_SINCE_1970_UTC: _ClassVar[SemanticType]
    ISO_8601: _ClassVar[SemanticType]

class FieldAttrType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNKNOWN: _ClassVar[FieldAttrType]
    TEXT: _ClassVar[FieldAttrType]
    REAL: _ClassVar[FieldAttrType]
    DATE: _ClassVar[FieldAttrType]
    TIME: _ClassVar[FieldAttrType]
    TIMESTAMP: _ClassVar[FieldAttrType]
    INTERVAL: _ClassVar[FieldAttrType]
    INTEGER: _ClassVar[FieldAttrType]
    FIX: _ClassVar[FieldAttrType]
    MONEY: _ClassVar[FieldAttrType]
DEFAULT: SemanticType
UNIX_SECONDS_SINCE_1970_UTC: SemanticType
ISO_8601: SemanticType
UNKNOWN: FieldAttrType
TEXT: FieldAttrType
REAL: FieldAttrType
DATE: FieldAttrType
TIME: FieldAttrType
TIMESTAMP: FieldAttrType
INTERVAL: FieldAttrType
INTEGER: FieldAttrType
FIX: FieldAttrType
MONEY: FieldAttrType

class OptionalInteger(_message.Message):
    __slots__ = ("hasValue", "value")
    HASVALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    hasValue: bool
    value: int
    def __init__(self, hasValue: _Optional[bool] = ..., value: _Optional[int] = ...) -> None: ...

class ConnectionInfo(_message.Message):
    __slots__ = ("connectionString", "user", "password")
    CONNECTIONSTRING_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    connectionString: str
    user: str
    password: str
    def __init__(self, connectionString: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("user", "sessionId", "docId", "reloadId")
    USER_FIELD_NUMBER: _ClassVar[int]
    SESSIONID_FIELD_NUMBER: _ClassVar[int]
    DOCID_FIELD_NUMBER: _ClassVar[int]
    RELOADID_FIELD_NUMBER: _ClassVar[int]
    user: str
    sessionId: str
    docId: str
    reloadId: str
    def __init__(self, user: _Optional[str] = ..., sessionId: _Optional[str] = ..., docId: _Optional[str] = ..., reloadId: _Optional[str] = ...) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class DataInfo(_message.Message):
    __slots__ = ("statement", "parameters", "firstRowsOnly")
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    FIRSTROWSONLY_FIELD_NUMBER: _ClassVar[int]
    statement: str
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    firstRowsOnly: OptionalInteger
    def __init__(self, statement: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ..., firstRowsOnly: _Optional[_Union[OptionalInteger, _Mapping]] = ...) -> None: ...

class DataRequest(_message.Message):
    __slots__ = ("connection", "sessionInfo", "parameters")
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    SESSIONINFO_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    connection: ConnectionInfo
    sessionInfo: SessionInfo
    parameters: DataInfo
    def __init__(self, connection: _Optional[_Union[ConnectionInfo, _Mapping]] = ..., sessionInfo: _Optional[_Union[SessionInfo, _Mapping]] = ..., parameters: _Optional[_Union[DataInfo, _Mapping]] = ...) -> None: ...

class DataChunk(_message.Message):
    __slots__ = ("stringBucket", "doubleBucket", "stringCodes", "numberCodes")
    STRINGBUCKET_FIELD_NUMBER: _ClassVar[int]
    DOUBLEBUCKET_FIELD_NUMBER: _ClassVar[int]
    STRINGCODES_FIELD_NUMBER: _ClassVar[int]
    NUMBERCODES_FIELD_NUMBER: _ClassVar[int]
    stringBucket: _containers.RepeatedScalarFieldContainer[str]
    doubleBucket: _containers.RepeatedScalarFieldContainer[float]
    stringCodes: _containers.RepeatedScalarFieldContainer[int]
    numberCodes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, stringBucket: _Optional[_Iterable[str]] = ..., doubleBucket: _Optional[_Iterable[float]] = ..., stringCodes: _Optional[_Iterable[int]] = ..., numberCodes: _Optional[_Iterable[int]] = ...) -> None: ...

class FieldAttributes(_message.Message):
    __slots__ = ("Type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    Type: FieldAttrType
    def __init__(self, Type: _Optional[_Union[FieldAttrType, str]] = ...) -> None: ...

class FieldInfo(_message.Message):
    __slots__ = ("name", "semanticType", "fieldAttributes", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEMANTICTYPE_FIELD_NUMBER: _ClassVar[int]
    FIELDATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    semanticType: SemanticType
    fieldAttributes: FieldAttributes
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., semanticType: _Optional[_Union[SemanticType, str]] = ..., fieldAttributes: _Optional[_Union[FieldAttributes, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class GetDataResponse(_message.Message):
    __slots__ = ("fieldInfo", "tableName")
    FIELDINFO_FIELD_NUMBER: _ClassVar[int]
    TABLENAME_FIELD_NUMBER: _ClassVar[int]
    fieldInfo: _containers.RepeatedCompositeFieldContainer[FieldInfo]
    tableName: str
    def __init__(self, fieldInfo: _Optional[_Iterable[_Union[FieldInfo, _Mapping]]] = ..., tableName: _Optional[str] = ...) -> None: ...

class MetaInfo(_message.Message):
    __slots__ = ("name", "version", "developer")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVELOPER_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    developer: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., developer: _Optional[str] = ...) -> None: ...

class MetaInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
