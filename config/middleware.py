from django.conf import settings
from django.http import JsonResponse
from django.utils import translation
from django.utils.deprecation import MiddlewareMixin


class ChineseFirstLocaleMiddleware(MiddlewareMixin):
    """Simplified Chinese unless the person chose English (language cookie).

    Browsers here often send an English Accept-Language even for Chinese staff, so pages ignore it;
    API clients may still ask for English with Accept-Language.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if chosen and translation.check_for_language(chosen):
            language = chosen
        elif request.path.startswith("/api/"):
            language = translation.get_language_from_request(request)
        else:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


class RejectNulBytesMiddleware:
    """A NUL byte in a query parameter can never match anything, and PostgreSQL refuses it in text:
    answer 400 naming the parameter instead of failing deep inside a query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = sorted({key for key, values in request.GET.lists() for value in [key, *values] if "\x00" in value})
        if bad:
            return JsonResponse(
                {
                    "message": translation.gettext("Query parameter %(name)s contains a NUL byte.")
                    % {"name": ", ".join(repr(b) for b in bad)},
                    "code": "invalid_input",
                    "extra": {"fields": bad},
                },
                status=400,
                json_dumps_params={"ensure_ascii": False},
            )
        return self.get_response(request)
