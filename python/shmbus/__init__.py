"""shmbus: the Python peer of the shared-memory message bus (PROTOCOL.md version 2), built on the C peer.

    import shmbus
    pub = shmbus.Topic.create("video", capacity=64 << 20, max_message_size=1 << 22)
    sub = shmbus.Topic.subscribe("video", start="latest", wait=5.0)
    msg = sub.read(timeout=1.0)          # None on timeout; msg.data is a memoryview into the ring

Timeouts are seconds (float; None = forever, 0 = try once). Errors are ShmbusError with the Node codes.
"""
from __future__ import annotations

from .errors import (
    ShmbusError,
    ShmbusExistsError,
    ShmbusNotFoundError,
    ShmbusPermissionError,
    ShmbusTimeoutError,
)
from .frame import Frame, FrameView
from .mailbox import Mailbox, MailboxValue
from .parts import Parts
from .queue import Queue, QueueMessage
from .segment import Segment, SegmentInfo
from .rpc import Rpc, RpcClient, RpcRequest, RpcResponse, RpcServer
from .sync import Event, LockResult, Mutex, RwLock, Semaphore
from .topic import Loan, Message, Subscriber, Topic

__version__ = "0.1.0"
PROTOCOL_VERSION = 2

__all__ = [
    "Event",
    "Frame",
    "FrameView",
    "Rpc",
    "RpcClient",
    "RpcRequest",
    "RpcResponse",
    "RpcServer",
    "RwLock",
    "Semaphore",
    "Loan",
    "LockResult",
    "Mailbox",
    "MailboxValue",
    "Message",
    "Mutex",
    "PROTOCOL_VERSION",
    "Queue",
    "QueueMessage",
    "Segment",
    "SegmentInfo",
    "ShmbusError",
    "ShmbusExistsError",
    "ShmbusNotFoundError",
    "ShmbusPermissionError",
    "ShmbusTimeoutError",
    "Subscriber",
    "Topic",
]
