import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from marketplace.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_BUY: _ClassVar[Action]
    ACTION_SELL: _ClassVar[Action]
    ACTION_HOLD: _ClassVar[Action]
ACTION_UNSPECIFIED: Action
ACTION_BUY: Action
ACTION_SELL: Action
ACTION_HOLD: Action

class Attribution(_message.Message):
    __slots__ = ("vendor_id", "vendor_slug", "vendor_display_name", "deployment_id", "run_id")
    VENDOR_ID_FIELD_NUMBER: _ClassVar[int]
    VENDOR_SLUG_FIELD_NUMBER: _ClassVar[int]
    VENDOR_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    vendor_id: str
    vendor_slug: str
    vendor_display_name: str
    deployment_id: str
    run_id: str
    def __init__(self, vendor_id: _Optional[str] = ..., vendor_slug: _Optional[str] = ..., vendor_display_name: _Optional[str] = ..., deployment_id: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class Signal(_message.Message):
    __slots__ = ("id", "symbol", "action", "score", "confidence", "horizon", "generate_time", "round_number", "model_version", "attribution", "store_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    GENERATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROUND_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    STORE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    symbol: str
    action: Action
    score: float
    confidence: float
    horizon: _duration_pb2.Duration
    generate_time: _timestamp_pb2.Timestamp
    round_number: int
    model_version: str
    attribution: Attribution
    store_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., symbol: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., score: _Optional[float] = ..., confidence: _Optional[float] = ..., horizon: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., generate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., round_number: _Optional[int] = ..., model_version: _Optional[str] = ..., attribution: _Optional[_Union[Attribution, _Mapping]] = ..., store_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SignalRejection(_message.Message):
    __slots__ = ("index", "symbol", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    symbol: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., symbol: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class StoreSignalsRequest(_message.Message):
    __slots__ = ("signals", "sequence")
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    sequence: int
    def __init__(self, signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ..., sequence: _Optional[int] = ...) -> None: ...

class StoreSignalsResponse(_message.Message):
    __slots__ = ("accepted", "rejections", "duplicate")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejections: _containers.RepeatedCompositeFieldContainer[SignalRejection]
    duplicate: bool
    def __init__(self, accepted: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[SignalRejection, _Mapping]]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class SignalBatch(_message.Message):
    __slots__ = ("sequence", "signals")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    def __init__(self, sequence: _Optional[int] = ..., signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ...) -> None: ...

class SignalAck(_message.Message):
    __slots__ = ("sequence", "committed_sequence", "accepted", "rejections", "duplicate", "slow_down")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    SLOW_DOWN_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    committed_sequence: int
    accepted: int
    rejections: _containers.RepeatedCompositeFieldContainer[SignalRejection]
    duplicate: bool
    slow_down: _duration_pb2.Duration
    def __init__(self, sequence: _Optional[int] = ..., committed_sequence: _Optional[int] = ..., accepted: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[SignalRejection, _Mapping]]] = ..., duplicate: _Optional[bool] = ..., slow_down: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ListSignalsRequest(_message.Message):
    __slots__ = ("symbol", "vendor", "deployment_id", "round_number", "page_size", "page_token")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    vendor: str
    deployment_id: str
    round_number: int
    page_size: int
    page_token: str
    def __init__(self, symbol: _Optional[str] = ..., vendor: _Optional[str] = ..., deployment_id: _Optional[str] = ..., round_number: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSignalsResponse(_message.Message):
    __slots__ = ("signals", "next_page_token")
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    next_page_token: str
    def __init__(self, signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SubscribeSignalsRequest(_message.Message):
    __slots__ = ("symbol", "vendor")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    vendor: str
    def __init__(self, symbol: _Optional[str] = ..., vendor: _Optional[str] = ...) -> None: ...
