import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from marketplace.v1 import common_pb2 as _common_pb2
from marketplace.v1 import deployments_pb2 as _deployments_pb2
from marketplace.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CatalogModel(_message.Message):
    __slots__ = ("deployment_id", "run_id", "name", "state", "signal_count", "last_signal_time", "live_score", "scored_rounds")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_SIGNAL_TIME_FIELD_NUMBER: _ClassVar[int]
    LIVE_SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORED_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    run_id: str
    name: str
    state: _deployments_pb2.DeploymentState
    signal_count: int
    last_signal_time: _timestamp_pb2.Timestamp
    live_score: float
    scored_rounds: int
    def __init__(self, deployment_id: _Optional[str] = ..., run_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[_deployments_pb2.DeploymentState, str]] = ..., signal_count: _Optional[int] = ..., last_signal_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., live_score: _Optional[float] = ..., scored_rounds: _Optional[int] = ...) -> None: ...

class CatalogEntry(_message.Message):
    __slots__ = ("vendor", "models", "rounds_entered", "signal_count", "last_signal_time")
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_ENTERED_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_SIGNAL_TIME_FIELD_NUMBER: _ClassVar[int]
    vendor: _common_pb2.Vendor
    models: _containers.RepeatedCompositeFieldContainer[CatalogModel]
    rounds_entered: _containers.RepeatedScalarFieldContainer[int]
    signal_count: int
    last_signal_time: _timestamp_pb2.Timestamp
    def __init__(self, vendor: _Optional[_Union[_common_pb2.Vendor, _Mapping]] = ..., models: _Optional[_Iterable[_Union[CatalogModel, _Mapping]]] = ..., rounds_entered: _Optional[_Iterable[int]] = ..., signal_count: _Optional[int] = ..., last_signal_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCatalogRequest(_message.Message):
    __slots__ = ("vendor", "live_only", "page_size", "page_token")
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    LIVE_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    vendor: str
    live_only: bool
    page_size: int
    page_token: str
    def __init__(self, vendor: _Optional[str] = ..., live_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCatalogResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[CatalogEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[CatalogEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCatalogEntryRequest(_message.Message):
    __slots__ = ("vendor",)
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    vendor: str
    def __init__(self, vendor: _Optional[str] = ...) -> None: ...
