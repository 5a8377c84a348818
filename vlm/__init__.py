"""Everything model-facing: dynamic resolution, dialects (prompts and parsers), backends.

Importing this package is cheap: torch and transformers load only inside the backend
that needs them.
"""

from pixelpilot.tools import ActionParseError, CoordinateError

from .dialects import DIALECTS, Dialect, Turn, get_dialect
from .parse import parse_actions
from .resize import model_image_size, smart_resize, visual_tokens

__all__ = [
    "DIALECTS",
    "ActionParseError",
    "CoordinateError",
    "Dialect",
    "Turn",
    "get_dialect",
    "model_image_size",
    "parse_actions",
    "smart_resize",
    "visual_tokens",
]
