"""The error answers every upload route documents in its OpenAPI schema: JSON with a readable `detail`."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorBody(BaseModel):
    detail: str


ERROR_RESPONSES = {
    400: {"model": ErrorBody, "description": "Malformed multipart body"},
    408: {"model": ErrorBody, "description": "The upload did not arrive in time"},
    413: {"model": ErrorBody, "description": "File too large, or too many pixels"},
    415: {"model": ErrorBody, "description": "Not an image (judged by its content), or not multipart"},
    422: {
        "model": ErrorBody,
        "description": "Missing or invalid field (hints included), or an image that cannot be decoded",
    },
    503: {"model": ErrorBody, "description": "Busy: retry after the Retry-After header's seconds"},
}
