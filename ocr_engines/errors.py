"""Typed errors for documents an engine cannot read.

Every failure a caller can meet is one of these, with a message a person can act on; the CLI and
the service map them to exit codes / HTTP statuses without ever showing a traceback.
"""


class OcrError(Exception):
    """Base of every error raised by an engine."""

    code = "ocr_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict:
        return {"error": self.code, "message": self.message}


class DocumentError(OcrError):
    """The input document itself is unusable (the caller should fix the upload)."""

    code = "invalid_document"


class EmptyDocumentError(DocumentError):
    code = "empty_document"


class UnsupportedFormatError(DocumentError):
    code = "unsupported_format"


class CorruptDocumentError(DocumentError):
    code = "corrupt_document"


class EncryptedDocumentError(DocumentError):
    code = "encrypted_document"


class TooManyPagesError(DocumentError):
    code = "too_many_pages"


class ImageTooLargeError(DocumentError):
    code = "image_too_large"


class EngineError(OcrError):
    """The engine failed on a valid document (the operator should look)."""

    code = "engine_error"
    # Whether the failure says the engine is unwell (timeouts, 5xx, unavailable, crashes): only
    # these count towards opening its circuit breaker. A failure the document caused does not.
    engine_health = True


class UnreadableDocumentError(EngineError):
    """The engine ran and could not read this document (Tesseract could not decode its image,
    Document AI refused its content): that document's error, not a sign of the engine's health,
    so it never opens the circuit breaker. Another engine may still try this document."""

    code = "unreadable_document"
    engine_health = False


class EngineUnavailableError(EngineError):
    code = "engine_unavailable"


class EngineCrashedError(EngineError):
    """The process reading the document died (out of memory, a crash in a native library)."""

    code = "engine_crashed"


class InjectedFaultError(EngineError):
    """A failure injected on purpose (drills, the rollback demo): never seen in normal operation."""

    code = "injected_fault"


class OcrTimeoutError(EngineError):
    code = "ocr_timeout"


class UnknownEngineError(OcrError):
    code = "unknown_engine"


class QuotaExceededError(EngineError):
    """The provider's quota is used up (HTTP 429 after retries)."""

    code = "quota_exceeded"


class PermissionDeniedError(EngineError):
    """The credentials may not use the processor (HTTP 403): an IAM / configuration problem."""

    code = "permission_denied"


class InvalidProcessorError(EngineError):
    """The processor name does not exist or is malformed (HTTP 404 / 400 on the name)."""

    code = "invalid_processor"


class MalformedResponseError(EngineError):
    """The provider answered with a body that is not a ProcessResponse."""

    code = "malformed_response"


class EmptyResponseError(UnreadableDocumentError):
    """The provider read the document but returned no entities (a blank page, a photo)."""

    code = "no_entities"
