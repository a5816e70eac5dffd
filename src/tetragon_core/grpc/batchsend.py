"""Several gRPC messages in one HTTP/2 DATA write on a grpclib server stream.

grpclib's public ``Stream.send_message`` sends one message per call: one pass through h2, one DATA
frame and one ``transport.write`` each. A gRPC stream does not tie messages to frames: each message
is a 5-byte prefix (1-byte compressed flag, 4-byte big-endian length) and its bytes, and any number
of them may share a frame. :class:`MessageBatch` serializes messages into one buffer of prefixed
messages and writes the buffer in one ``send_data`` call, which h2 splits into DATA frames.

This is the only module that touches grpclib internals. What it relies on (grpclib 0.4.x; the unit
test ``tests/unit/test_grpc_batchsend.py::test_grpclib_internals_are_where_batchsend_expects``
fails if any of it moves):

* ``grpclib.server.Stream._stream``: the call's ``grpclib.protocol.Stream``. Its coroutine
  ``send_data(data, end_stream=False)`` writes bytes as DATA frames of at most
  ``min(send window, peer's SETTINGS_MAX_FRAME_SIZE)`` bytes and waits for WINDOW_UPDATE when the
  window is exhausted, so flow control and the frame size limit are grpclib's and h2's, unchanged.
* ``grpclib.server.Stream._codec``: coalescing is used only with grpclib's ``ProtoCodec`` (the
  server's default), because the messages are serialized here with ``SerializeToString``.
* ``grpclib.server.Stream._dispatch._listeners``: coalescing is used only when nothing listens to
  grpclib's ``SendMessage`` event (the agent registers no listener), because that event is not
  dispatched per message here.
* The bookkeeping ``send_message`` does, repeated here: ``_send_initial_metadata_done`` (the
  headers are sent with the public ``send_initial_metadata`` before the first write),
  ``_send_message_done``, ``_messages_sent`` and ``connection.messages_sent`` /
  ``connection.last_message_sent`` of the protocol stream.

If coalescing is not usable on a stream, :class:`MessageBatch` falls back to one public
``send_message`` per message.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from grpclib.encoding.proto import ProtoCodec
from grpclib.events import SendMessage
from grpclib.server import Stream

_PREFIX = struct.Struct(">BI")  # gRPC length-prefixed message: compressed flag, length


def coalescing_usable(stream: Stream[Any, Any]) -> bool:
    """Whether :class:`MessageBatch` can write several messages per DATA write on ``stream``."""
    listeners = stream._dispatch._listeners.get(SendMessage)
    return isinstance(stream._codec, ProtoCodec) and not listeners


class MessageBatch:
    """Protobuf messages collected with :meth:`add` and sent together by :meth:`flush`."""

    __slots__ = ("_buf", "_coalesce", "_msgs", "_stream", "count")

    def __init__(self, stream: Stream[Any, Any]) -> None:
        self._stream = stream
        self._coalesce = coalescing_usable(stream)
        self._buf = bytearray()
        self._msgs: list[Any] = []  # only when not coalescing
        #: messages added since the last flush
        self.count = 0

    @property
    def coalescing(self) -> bool:
        return self._coalesce

    @property
    def size(self) -> int:
        """Bytes buffered (prefixes included); 0 when not coalescing."""
        return len(self._buf)

    def add(self, msg: Any) -> int:
        """Serialize ``msg`` into the batch (or keep it, when not coalescing); return :attr:`size`."""
        if self._coalesce:
            data = msg.SerializeToString()
            buf = self._buf
            buf += _PREFIX.pack(0, len(data))
            buf += data
            self.count += 1
            return len(buf)
        self._msgs.append(msg)
        self.count += 1
        return 0

    def add_bytes(self, data: bytes) -> int:
        """Add one already serialized message; only when :attr:`coalescing`. Returns :attr:`size`."""
        buf = self._buf
        buf += _PREFIX.pack(0, len(data))
        buf += data
        self.count += 1
        return len(buf)

    async def flush(self) -> None:
        """Send what was added, in order: one ``send_data`` call when coalescing."""
        if not self.count:
            return
        stream = self._stream
        if not self._coalesce:
            msgs, self._msgs, self.count = self._msgs, [], 0
            for m in msgs:
                await stream.send_message(m)
            return
        data, n = bytes(self._buf), self.count
        self._buf.clear()
        self.count = 0
        if not stream._send_initial_metadata_done:
            await stream.send_initial_metadata()
        raw = stream._stream
        await raw.send_data(data)
        stream._send_message_done = True
        stream._messages_sent += n
        raw.connection.messages_sent += n
        raw.connection.last_message_sent = time.monotonic()
