"""`POST /api/palette`: the likeliest colors the model sees at a point of an uploaded photo (a bins-head model),
the choices the page offers for a hint there."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request

from ..infer.palette import PaletteError
from ..io.images import ImageReadError
from .decoders import DecoderPool, DecodeTimeout
from .gate import InferenceGate
from .limits import ApiError, ServeLimits
from .responses import ERROR_RESPONSES, ErrorBody, upload_body
from .upload import parse_options, parse_point, safe_label, status_for


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
        openapi_extra=upload_body(
            limits,
            ["x", "y"],
            x={"type": "number", "minimum": 0, "description": "the point, in the photo's pixels from the left"},
            y={"type": "number", "minimum": 0, "description": "the point, in the photo's pixels from the top"},
            count={"type": "integer", "minimum": 1, "maximum": 16, "default": 5},
        ),
    )
    async def palette(request: Request):
        parts = await receive_form(request)  # read first: an answer before the body is read may reset the connection
        if not has_palette:
            raise ApiError(409, "this server's model has no palette: it predicts one color per pixel")
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
