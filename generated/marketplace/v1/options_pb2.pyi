from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PrincipalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRINCIPAL_KIND_UNSPECIFIED: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_ADMIN: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_VENDOR: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_DEPLOYMENT: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_RUN: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_SERVICE: _ClassVar[PrincipalKind]

class RateClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATE_CLASS_UNSPECIFIED: _ClassVar[RateClass]
    RATE_CLASS_READ: _ClassVar[RateClass]
    RATE_CLASS_WRITE: _ClassVar[RateClass]
    RATE_CLASS_SIGNAL_INGEST: _ClassVar[RateClass]
    RATE_CLASS_UNLIMITED: _ClassVar[RateClass]
PRINCIPAL_KIND_UNSPECIFIED: PrincipalKind
PRINCIPAL_KIND_ADMIN: PrincipalKind
PRINCIPAL_KIND_VENDOR: PrincipalKind
PRINCIPAL_KIND_DEPLOYMENT: PrincipalKind
PRINCIPAL_KIND_RUN: PrincipalKind
PRINCIPAL_KIND_SERVICE: PrincipalKind
RATE_CLASS_UNSPECIFIED: RateClass
RATE_CLASS_READ: RateClass
RATE_CLASS_WRITE: RateClass
RATE_CLASS_SIGNAL_INGEST: RateClass
RATE_CLASS_UNLIMITED: RateClass
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor

class AccessRule(_message.Message):
    __slots__ = ("public", "scopes", "callers", "rate_class")
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CALLERS_FIELD_NUMBER: _ClassVar[int]
    RATE_CLASS_FIELD_NUMBER: _ClassVar[int]
    public: bool
    scopes: _containers.RepeatedScalarFieldContainer[str]
    callers: _containers.RepeatedScalarFieldContainer[PrincipalKind]
    rate_class: RateClass
    def __init__(self, public: _Optional[bool] = ..., scopes: _Optional[_Iterable[str]] = ..., callers: _Optional[_Iterable[_Union[PrincipalKind, str]]] = ..., rate_class: _Optional[_Union[RateClass, str]] = ...) -> None: ...
