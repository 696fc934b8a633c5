import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from marketplace.v1 import common_pb2 as _common_pb2
from marketplace.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoundState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUND_STATE_UNSPECIFIED: _ClassVar[RoundState]
    ROUND_STATE_UPCOMING: _ClassVar[RoundState]
    ROUND_STATE_OPEN: _ClassVar[RoundState]
    ROUND_STATE_CLOSED: _ClassVar[RoundState]
    ROUND_STATE_RESOLVED: _ClassVar[RoundState]
ROUND_STATE_UNSPECIFIED: RoundState
ROUND_STATE_UPCOMING: RoundState
ROUND_STATE_OPEN: RoundState
ROUND_STATE_CLOSED: RoundState
ROUND_STATE_RESOLVED: RoundState

class DatasetFile(_message.Message):
    __slots__ = ("name", "format", "digest", "columns", "row_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: str
    digest: _common_pb2.FileDigest
    columns: _containers.RepeatedScalarFieldContainer[str]
    row_count: int
    def __init__(self, name: _Optional[str] = ..., format: _Optional[str] = ..., digest: _Optional[_Union[_common_pb2.FileDigest, _Mapping]] = ..., columns: _Optional[_Iterable[str]] = ..., row_count: _Optional[int] = ...) -> None: ...

class Round(_message.Message):
    __slots__ = ("number", "state", "open_time", "close_time", "resolve_time", "files", "symbols", "data_start_time", "data_end_time", "synthetic", "description")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
    CLOSE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    DATA_START_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_END_TIME_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    number: int
    state: RoundState
    open_time: _timestamp_pb2.Timestamp
    close_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    files: _containers.RepeatedCompositeFieldContainer[DatasetFile]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    data_start_time: _timestamp_pb2.Timestamp
    data_end_time: _timestamp_pb2.Timestamp
    synthetic: bool
    description: str
    def __init__(self, number: _Optional[int] = ..., state: _Optional[_Union[RoundState, str]] = ..., open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., close_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., files: _Optional[_Iterable[_Union[DatasetFile, _Mapping]]] = ..., symbols: _Optional[_Iterable[str]] = ..., data_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., synthetic: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class GetCurrentRoundRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRoundRequest(_message.Message):
    __slots__ = ("number",)
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    number: int
    def __init__(self, number: _Optional[int] = ...) -> None: ...

class ListRoundsRequest(_message.Message):
    __slots__ = ("state", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: RoundState
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[RoundState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRoundsResponse(_message.Message):
    __slots__ = ("rounds", "next_page_token")
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rounds: _containers.RepeatedCompositeFieldContainer[Round]
    next_page_token: str
    def __init__(self, rounds: _Optional[_Iterable[_Union[Round, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateSignedUrlsRequest(_message.Message):
    __slots__ = ("round_number", "files", "expires_in")
    ROUND_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    round_number: int
    files: _containers.RepeatedScalarFieldContainer[str]
    expires_in: _duration_pb2.Duration
    def __init__(self, round_number: _Optional[int] = ..., files: _Optional[_Iterable[str]] = ..., expires_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SignedUrl(_message.Message):
    __slots__ = ("file", "url", "expire_time", "digest")
    FILE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    file: str
    url: str
    expire_time: _timestamp_pb2.Timestamp
    digest: _common_pb2.FileDigest
    def __init__(self, file: _Optional[str] = ..., url: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., digest: _Optional[_Union[_common_pb2.FileDigest, _Mapping]] = ...) -> None: ...

class CreateSignedUrlsResponse(_message.Message):
    __slots__ = ("round_number", "urls")
    ROUND_NUMBER_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    round_number: int
    urls: _containers.RepeatedCompositeFieldContainer[SignedUrl]
    def __init__(self, round_number: _Optional[int] = ..., urls: _Optional[_Iterable[_Union[SignedUrl, _Mapping]]] = ...) -> None: ...

class PublishRoundRequest(_message.Message):
    __slots__ = ("header", "chunk")
    class Header(_message.Message):
        __slots__ = ("request_id", "number", "open_time", "close_time", "files", "symbols", "data_start_time", "data_end_time", "synthetic", "description")
        REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
        NUMBER_FIELD_NUMBER: _ClassVar[int]
        OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
        CLOSE_TIME_FIELD_NUMBER: _ClassVar[int]
        FILES_FIELD_NUMBER: _ClassVar[int]
        SYMBOLS_FIELD_NUMBER: _ClassVar[int]
        DATA_START_TIME_FIELD_NUMBER: _ClassVar[int]
        DATA_END_TIME_FIELD_NUMBER: _ClassVar[int]
        SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
        DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
        request_id: str
        number: int
        open_time: _timestamp_pb2.Timestamp
        close_time: _timestamp_pb2.Timestamp
        files: _containers.RepeatedCompositeFieldContainer[DatasetFile]
        symbols: _containers.RepeatedScalarFieldContainer[str]
        data_start_time: _timestamp_pb2.Timestamp
        data_end_time: _timestamp_pb2.Timestamp
        synthetic: bool
        description: str
        def __init__(self, request_id: _Optional[str] = ..., number: _Optional[int] = ..., open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., close_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., files: _Optional[_Iterable[_Union[DatasetFile, _Mapping]]] = ..., symbols: _Optional[_Iterable[str]] = ..., data_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., synthetic: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...
    class Chunk(_message.Message):
        __slots__ = ("file", "data")
        FILE_FIELD_NUMBER: _ClassVar[int]
        DATA_FIELD_NUMBER: _ClassVar[int]
        file: str
        data: bytes
        def __init__(self, file: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: PublishRoundRequest.Header
    chunk: PublishRoundRequest.Chunk
    def __init__(self, header: _Optional[_Union[PublishRoundRequest.Header, _Mapping]] = ..., chunk: _Optional[_Union[PublishRoundRequest.Chunk, _Mapping]] = ...) -> None: ...

class CloseRoundRequest(_message.Message):
    __slots__ = ("number",)
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    number: int
    def __init__(self, number: _Optional[int] = ...) -> None: ...

class SymbolReturn(_message.Message):
    __slots__ = ("symbol", "realized_return")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    REALIZED_RETURN_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    realized_return: float
    def __init__(self, symbol: _Optional[str] = ..., realized_return: _Optional[float] = ...) -> None: ...

class ResolveRoundRequest(_message.Message):
    __slots__ = ("number", "returns")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    RETURNS_FIELD_NUMBER: _ClassVar[int]
    number: int
    returns: _containers.RepeatedCompositeFieldContainer[SymbolReturn]
    def __init__(self, number: _Optional[int] = ..., returns: _Optional[_Iterable[_Union[SymbolReturn, _Mapping]]] = ...) -> None: ...
