"""What every upload route documents in its OpenAPI schema: its error answers (JSON with a readable `detail`)
and its multipart body, the photo and the working size plus the route's own fields."""

from __future__ import annotations

from pydantic import BaseModel

from .limits import MIN_SIZE, ServeLimits
from .upload import megabytes


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


def upload_body(limits: ServeLimits, required: list[str], **fields: dict) -> dict:
    """The `openapi_extra` of a route that takes a multipart photo: `image`, `size` and the route's `fields`."""
    properties = {
        "image": {
            "type": "string",
            "format": "binary",
            "description": f"the photo (at most {megabytes(limits.max_upload_bytes)}, {limits.max_pixels:,} pixels)",
        },
        "size": {
            "type": "integer",
            "minimum": MIN_SIZE,
            "maximum": limits.max_size,
            "description": "the network's working size; default: the model's training size",
        },
        **fields,
    }
    schema = {"type": "object", "required": ["image", *required], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}
