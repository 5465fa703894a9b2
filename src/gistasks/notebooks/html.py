"""An executed notebook as a standalone HTML page that runs no script.

The page is nbconvert's JupyterLab rendering with every script taken out: a template of our
own drops the blocks that load MathJax, RequireJS, Mermaid and the widget manager, and shows
a note in place of JavaScript and widget outputs; all HTML from the notebook (Markdown cells,
HTML and Markdown outputs, raw HTML cells, highlighted code) goes through one allowlist
sanitiser (bleach: text formatting, headings, lists, tables, links, images; no script, style
element, event handler, form, frame or object); SVG is shown as an ``<img>`` (scripts in an
image never run); a last pass escapes any ``<script`` left. Maths shows as its TeX source.

Defence in depth is the caller's part: serve the page with :data:`CONTENT_SECURITY_POLICY`
as its ``Content-Security-Policy`` header (no script, no request to anywhere, sandboxed), with
``X-Content-Type-Options: nosniff``, ideally from an origin without the API's cookies.

The first export in a thread builds that thread's exporter (templates, the CSS: about half a
second); later ones reuse it (tens of ms for a small notebook).
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from nbformat import NotebookNode

from gistasks.notebooks.documents import DEFAULT_LIMITS, NotebookError

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                           "font-src data:; base-uri 'none'; form-action 'none'; sandbox")
"""The ``Content-Security-Policy`` to serve an export with."""

TEMPLATE_NAME = "gistasks-noscript.html.j2"
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_javascript scoped -%}
<div class="jp-OutputArea-output {{ extra_class }}"><pre>[JavaScript output not shown]</pre></div>
{%- endblock data_javascript -%}
{%- block data_widget_view scoped -%}
<div class="jp-OutputArea-output {{ extra_class }}"><pre>[widget not shown]</pre></div>
{%- endblock data_widget_view -%}
{%- block footer %}
</html>
{% endblock footer -%}
"""

_TAGS = frozenset({
    "a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre",
    "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "time", "tr", "u", "ul", "var"})
_COMMON_ATTRS = frozenset({"class", "id", "title", "lang", "dir", "align"})
_TAG_ATTRS = {
    "a": {"href", "name"}, "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}, "col": {"span"},
    "colgroup": {"span"}, "ol": {"start", "type"}, "time": {"datetime"}, "table": {"border"},
}
_DROP_WITH_CONTENT = re.compile(
    r"<(script|style|template|textarea|title|noscript|iframe|object|svg|math)\b.*?"
    r"(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_SCRIPT_TAG = re.compile(r"<(/?\s*script)", re.IGNORECASE)

def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in _COMMON_ATTRS or name in _TAG_ATTRS.get(tag, ()):
        if name in ("href", "src"):
            lowered = value.strip().lower()
            if lowered.startswith("data:"):
                return tag == "img" and lowered.startswith("data:image/") and \
                    not lowered.startswith("data:image/svg")
        return True
    return False


def clean_html(html: Any) -> str:
    """``html`` reduced to the allowlist (the template's ``clean_html`` filter)."""
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
    text = _DROP_WITH_CONTENT.sub("", text)
    bleach: Any = importlib.import_module("bleach")  # untyped; imported by nbconvert already
    cleaned: str = bleach.clean(text, tags=_TAGS, attributes=_allowed_attribute,
                                 protocols={"http", "https", "mailto", "data"}, strip=True,
                                 strip_comments=True)
    return cleaned


_quiet = logging.getLogger(__name__ + ".nbconvert")
_quiet.setLevel(logging.ERROR)  # not one warning per image without alt text
_local = threading.local()


def _exporter() -> HTMLExporter:
    exporter: HTMLExporter | None = getattr(_local, "exporter", None)
    if exporter is None:
        import jinja2  # nbconvert takes most of a second to import: only when first needed
        from nbconvert import HTMLExporter

        exporter = cast(Callable[..., HTMLExporter], HTMLExporter)(
            template_name="lab", template_file=TEMPLATE_NAME,
            extra_loaders=[jinja2.DictLoader({TEMPLATE_NAME: TEMPLATE})],
            sanitize_html=True, filters={"clean_html": clean_html},
            exclude_anchor_links=True, log=_quiet)
        _local.exporter = exporter
    return exporter


def to_html(nb: NotebookNode, title: str = "Notebook",
            max_bytes: int = DEFAULT_LIMITS.max_html_bytes) -> str:
    """``nb`` as one HTML page without scripts (see the module), titled ``title`` unless the
    notebook's metadata has a title. Raises NotebookError when the page would be longer than
    ``max_bytes`` (UTF-8). Thread-safe; ``nb`` is not changed."""
    html, _ = _exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    html = _SCRIPT_TAG.sub(r"&lt;\1", html)
    size = len(html.encode("utf-8", "replace"))
    if size > max_bytes:
        raise NotebookError(f"the notebook's HTML would be {size} bytes, more than the "
                            f"{max_bytes} allowed")
    return html


def preload() -> None:
    """Build this thread's exporter now, so that the first export does not pay for it."""
    _exporter()
