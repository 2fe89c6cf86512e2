"""One reader for JSON that a user or a client controls (hints, model metadata): every way a text can fail to
parse becomes one ValueError with a one-line reason, never a traceback from deep inside the decoder."""

from __future__ import annotations

import json
from typing import Any

MAX_INT_DIGITS = 64  # far beyond any pixel position; Python's own limit (4,300) fails with a traceback


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a number of {len(digits.lstrip('-')):,} digits")
    return int(digits)


def load_json(text: str | bytes) -> Any:
    """Parsed JSON; ValueError("...") naming what is wrong for malformed, too deep or absurdly long input."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # from _parse_int, and the decoder's own value errors
        raise ValueError(str(exc).splitlines()[0][:200]) from None
