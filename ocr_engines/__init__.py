"""The data plane: OCR engines behind one interface, field extraction and validation.

Nothing here knows about flags, rollout stages or Airflow.
"""

from . import documentai as _documentai  # noqa: F401  (registers the engine)
from . import ksef as _ksef  # noqa: F401  (registers the engine)
from . import tesseract as _tesseract  # noqa: F401  (registers the engine)
from .base import Engine, available_engines, get_engine
from .documents import Limits
from .errors import DocumentError, EngineError, OcrError
from .result import FIELD_NAMES, LINE_ITEM_KEYS, ExtractionResult, FieldValue

__all__ = [
    "Engine", "available_engines", "get_engine", "Limits", "DocumentError", "EngineError",
    "OcrError", "FIELD_NAMES", "LINE_ITEM_KEYS", "ExtractionResult", "FieldValue",
]
