from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SetEventLogParamsRequest(_message.Message):
    __slots__ = ("max_size", "rotation_interval", "max_backups")
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROTATION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKUPS_FIELD_NUMBER: _ClassVar[int]
    max_size: int
    rotation_interval: str
    max_backups: int
    def __init__(self, max_size: _Optional[int] = ..., rotation_interval: _Optional[str] = ..., max_backups: _Optional[int] = ...) -> None: ...

class SetEventLogParamsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEventLogParamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEventLogParamsResponse(_message.Message):
    __slots__ = ("max_size", "rotation_interval", "max_backups")
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROTATION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKUPS_FIELD_NUMBER: _ClassVar[int]
    max_size: int
    rotation_interval: str
    max_backups: int
    def __init__(self, max_size: _Optional[int] = ..., rotation_interval: _Optional[str] = ..., max_backups: _Optional[int] = ...) -> None: ...
