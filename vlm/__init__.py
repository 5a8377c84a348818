"""Everything model-facing: dynamic resolution, dialects (prompts and parsers), backends.

Importing this package is cheap: torch and transformers load only inside the backend
that needs them.
"""

from pixelpilot.tools import ActionParseError, CoordinateError

from .backend import (
    Backend,
    BackendError,
    Completion,
    GenerationParams,
    ModelNotFoundError,
    load_backend,
    request_digest,
)
from .dialects import DIALECTS, Dialect, Turn, get_dialect
from .parse import parse_actions
from .resize import model_image_size, smart_resize, visual_tokens
from .video import load_video

__all__ = [
    "DIALECTS",
    "ActionParseError",
    "Backend",
    "BackendError",
    "Completion",
    "CoordinateError",
    "Dialect",
    "GenerationParams",
    "ModelNotFoundError",
    "Turn",
    "get_dialect",
    "load_backend",
    "load_video",
    "model_image_size",
    "parse_actions",
    "request_digest",
    "smart_resize",
    "visual_tokens",
]
