"""`POST /api/palette`: the likeliest colors the model sees at a point of an uploaded photo (a bins-head model),
the choices the page offers for a hint there."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request

from ..infer.palette import PaletteError
from ..io.images import ImageReadError
from .decoders import DecoderPool, DecodeTimeout
from .gate import InferenceGate
from .limits import MIN_SIZE, ApiError, ServeLimits
from .responses import ERROR_RESPONSES, ErrorBody
from .upload import megabytes, parse_options, parse_point, safe_label, status_for


def add_palette_route(
    app: FastAPI,
    colorizer,
    has_palette: bool,
    gate: InferenceGate,
    decoders: DecoderPool,
    limits: ServeLimits,
    receive_form,
) -> None:
    def work(raw: bytes, label: str, x: float, y: float, count: int, size: int | None, deadline: float):
        loaded = decoders.decode(raw, label, deadline - time.monotonic())
        return [
            {"color": c.hex, "probability": round(c.probability, 4)}
            for c in colorizer.palette(loaded, x, y, count, size)
        ]

    @app.post(
        "/api/palette",
        summary="The likeliest colors the model sees at a point (a model with the bins head)",
        responses={
            **ERROR_RESPONSES,
            409: {"model": ErrorBody, "description": "This server's model predicts one color: it has no palette"},
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _schema(limits)}}}
        },
    )
    async def palette(request: Request):
        if not has_palette:
            raise ApiError(409, "this server's model has no palette: it predicts one color per pixel")
        parts = await receive_form(request)
        image, size, _, _ = parse_options(parts, limits)
        x, y, count = parse_point(parts)
        label = safe_label(image.filename)
        try:
            colors = await gate.run(
                work, bytes(image.data), label, x, y, count, size, time.monotonic() + limits.timeout
            )
        except DecodeTimeout:
            raise gate.busy(f"{label}: decoding took longer than {limits.timeout:g} s") from None
        except ImageReadError as err:
            raise ApiError(status_for(err), f"{label}: {err.reason}") from None
        except PaletteError as err:
            raise ApiError(422, f"{label}: {err}") from None
        return {"x": x, "y": y, "colors": colors}


def _schema(limits: ServeLimits) -> dict:
    return {
        "type": "object",
        "required": ["image", "x", "y"],
        "properties": {
            "image": {
                "type": "string",
                "format": "binary",
                "description": f"the photo (at most {megabytes(limits.max_upload_bytes)}, "
                f"{limits.max_pixels:,} pixels)",
            },
            "x": {"type": "number", "description": "the point, in the photo's pixels from the left"},
            "y": {"type": "number", "description": "the point, in the photo's pixels from the top"},
            "count": {"type": "integer", "minimum": 1, "maximum": 16, "default": 5},
            "size": {"type": "integer", "minimum": MIN_SIZE, "maximum": limits.max_size},
        },
    }
