"""The request body limit (413 PayloadTooLarge), enforced before and while reading.

A declared Content-Length over the limit is refused before the body is read; a body
sent without one (chunked) is counted as it streams and cut off at the limit.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.server.errors import body


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            status = 413 if declared.isdigit() else 400
            name = "PayloadTooLarge" if status == 413 else "BadRequest"
            message = self._too_large() if status == 413 else "Invalid Content-Length header"
            await JSONResponse(body(name, message), status_code=status)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # an HTTPException passes through FastAPI's body parsing untouched, to
                    # the error handler that gives it the API's shape
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counted, send)
