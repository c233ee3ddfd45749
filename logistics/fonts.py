"""The Chinese font every PDF of the hub embeds (fulfilment certificate, waybill labels).

WenQuanYi Zen Hei (setting ORDERHUB_PDF_FONT) is embedded as a TrueType subset, so a PDF reads the same on
machines without any CJK font. reportlab's built-in CJK fonts are not embedded and show blank there.
"""

import os
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

FONT_NAME = "WenQuanYiZenHei"
FONT_PACKAGE = "fonts-wqy-zenhei"

_font_lock = threading.Lock()
_font_path: str | None = None  # the file FONT_NAME is registered from in this process


def pdf_font() -> str:
    """Register the embeddable CJK font once per process (and again if the setting changes); returns its name."""
    global _font_path
    path = str(settings.ORDERHUB_PDF_FONT)
    with _font_lock:
        if _font_path != path:
            if not os.path.isfile(path):
                raise ImproperlyConfigured(
                    f"The PDF font WenQuanYi Zen Hei is missing: no file at {path} (setting ORDERHUB_PDF_FONT). "
                    f"Install the Debian package {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}; .ci/services.sh "
                    "does it) or point ORDERHUB_PDF_FONT at a TrueType font collection that has it."
                )
            try:
                pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=0))
            except TTFError as error:
                raise ImproperlyConfigured(
                    f"The PDF font at {path} (setting ORDERHUB_PDF_FONT) cannot be embedded: {error}. "
                    f"Use WenQuanYi Zen Hei from the Debian package {FONT_PACKAGE}."
                ) from error
            _font_path = path
    return FONT_NAME
