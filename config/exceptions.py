"""Application errors and the one DRF handler that renders every error as {message, code, extra}."""

import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A refusal the caller can understand and act on. Subclasses set the HTTP status."""

    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, code: str = "invalid", extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra or {}


class InvalidInput(ApplicationError):
    http_status = status.HTTP_400_BAD_REQUEST


class NotFound(ApplicationError):
    http_status = status.HTTP_404_NOT_FOUND


class Conflict(ApplicationError):
    http_status = status.HTTP_409_CONFLICT


class Forbidden(ApplicationError):
    http_status = status.HTTP_403_FORBIDDEN


def _first_message(detail: Any) -> str:
    """Walk DRF's nested error detail to a readable 'field: message' sentence."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            inner = _first_message(value)
            return inner if key in ("non_field_errors", "detail") else f"{key}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "code": exc.code, "extra": exc.extra}, status=exc.http_status)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = {"message": _first_message(exc.detail), "code": "invalid", "extra": {"fields": exc.detail}}
    elif isinstance(exc, drf_exceptions.ParseError) and str(exc.detail).startswith(JSON_PARSE_ERROR):
        detail = str(exc.detail)
        response.data = {"message": _json_parse_message(detail), "code": exc.default_code, "extra": {"detail": detail}}
    elif isinstance(exc, drf_exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "message": _first_message(exc.detail),
            "code": codes if isinstance(codes, str) else "error",
            "extra": {},
        }
    return response


JSON_PARSE_ERROR = "JSON parse error"  # DRF's JSONParser prefix; its detail is Python's English text
_JSON_POSITION = re.compile(r"line (\d+) column (\d+)")


def _json_parse_message(detail: str) -> str:
    """DRF's JSON parse error in the caller's language, keeping where the body broke (Python's text is English)."""
    position = _JSON_POSITION.search(detail)
    if position is None:
        return _("The request body is not valid JSON.")
    return _("The request body is not valid JSON (line %(line)s, column %(column)s).") % {
        "line": position.group(1),
        "column": position.group(2),
    }
