"""Client of the sessions.v1 chat-session service.

`pb` holds the contract's messages and enums, `pb_grpc` the service stubs.
"""

from sessions_client._generated.sessions.v1 import sessions_pb2 as pb
from sessions_client._generated.sessions.v1 import sessions_pb2_grpc as pb_grpc

__all__ = ["pb", "pb_grpc"]
