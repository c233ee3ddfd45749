"""Read an admin page's form the way a browser would submit it, to replay it (or a tampered copy) in tests."""

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        self.editable: set[str] = set()
        self._select: str | None = None
        self._select_seen = False
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind != "hidden":
                self.editable.add(name)
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(name, a.get("value", "on"))
                return
            self._add(name, a.get("value", ""))
        elif tag == "select" and name:
            self.editable.add(name)
            self._select, self._select_seen, self._first_option = name, False, None
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in a:
                self._add(self._select, value)
                self._select_seen = True
        elif tag == "textarea" and name:
            self.editable.add(name)
            self._textarea, self._text = name, ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            if not self._select_seen and self._first_option is not None:
                self._add(self._select, self._first_option)
            self._select = None
        elif tag == "textarea" and self._textarea:
            self._add(self._textarea, self._text)
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text += data


def read_form(html: str, form_id: str) -> tuple[dict[str, list[str]], set[str]]:
    """(what the form would submit, names of the inputs a person can change) of the form with that id."""
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader.data, reader.editable


def field_name(input_name: str) -> str:
    """The model field behind an input: split date/time widgets post `<field>_0` and `<field>_1`."""
    base, _, suffix = input_name.rpartition("_")
    return base if base and suffix in ("0", "1") else input_name
