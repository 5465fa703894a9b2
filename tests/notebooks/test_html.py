"""The HTML export: the outputs are there, nothing in the page can run a script."""

from __future__ import annotations

import re
import threading
from html.parser import HTMLParser

import pytest

from gistasks.notebooks import (
    CONTENT_SECURITY_POLICY,
    EngineConfig,
    NotebookEngine,
    NotebookError,
    _nbf,
    to_html,
)
from gistasks.notebooks.html import clean_html
from tests.notebooks import make_notebook

HOSTILE_CELL = """\
from IPython.display import HTML, Javascript, SVG, Markdown, display
print('plain <b>text</b> output')
display(HTML("<h2>Heading</h2><p onclick='steal()'>para</p><script>alert('html')</script>"
             "<img src=x onerror=alert('img')><a href='javascript:alert(1)'>link</a>"
             "<iframe src='https://evil.example'></iframe><style>body{display:none}</style>"
             "<table><tr><td>cell</td></tr></table>"))
display(Javascript("alert('js')"))
display(SVG("<svg xmlns='http://www.w3.org/2000/svg'><script>alert('svg')</script>"
            "<circle r='4'/></svg>"))
display(Markdown("**bold** <script>alert('md')</script>"))
"""



class _Elements(HTMLParser):
    """What a browser would build from a page: its elements and their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def what_could_run(html: str) -> list[str]:
    """The elements and attributes of ``html`` that can run script or load a page."""
    parser = _Elements()
    parser.feed(html)
    bad = []
    for tag, attrs in parser.found:
        if tag in ("script", "iframe", "frame", "object", "embed", "form", "base", "link",
                   "meta") and not (tag == "meta" and all(
                       k in ("charset", "name", "content") for k, _ in attrs)):
            bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith(
                    ("javascript:", "data:text", "vbscript:")):
                bad.append(f"{tag} {name}={value}")
    return bad


def test_an_executed_notebook_exports_its_outputs_and_no_script() -> None:
    nb = make_notebook(HOSTILE_CELL, "1 + 1")
    nb.cells.insert(0, _nbf.new_markdown_cell(
        "# Title\n\nSome *text* <script>alert('markdown')</script>\n\n| a | b |\n|---|---|\n"
        "| 1 | 2 |\n"))
    with NotebookEngine(EngineConfig(pool_size=0)) as engine:
        result = engine.run(_nbf.writes(nb).encode(), time_limit_s=30)
    assert result.succeeded, result.message
    html = to_html(result.notebook, title="My run")
    assert "<title>My run</title>" in html
    assert what_could_run(html) == []
    outputs = html[html.index('jp-Cell-outputArea"'):]  # its source shows as text
    assert "alert(" not in outputs  # nor is a script's text shown
    for shown in ("plain &lt;b&gt;text&lt;/b&gt; output", "<h2>Heading</h2>", "<p>para</p>",
                  "<td>cell</td>", "<strong>bold</strong>", "[JavaScript output not shown]",
                  'src="data:image/svg+xml;base64,', "<h1", "<em>text</em>", "<td>1</td>",
                  ">2</pre>"):
        assert shown in html, shown
    assert "display:none" not in outputs  # the style element is gone with its content


def test_the_page_loads_nothing_from_elsewhere() -> None:
    html = to_html(make_notebook("print(1)"))
    assert re.search(r"<(script|link)[^>]*(src|href)=", html) is None
    assert "https://cdn" not in html and "require.js" not in html


def test_raw_html_cells_and_widget_outputs_are_cleaned_too() -> None:
    nb = make_notebook("print(1)")
    nb.cells.append(_nbf.new_raw_cell("<b>raw</b><script>alert('raw')</script>",
                                      metadata={"format": "text/html"}))
    nb.cells[0].outputs.append(_nbf.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2,
                                                     "version_minor": 0},
        "text/plain": "a widget"}))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {}, "version_major": 2, "version_minor": 0}}
    html = to_html(nb)
    assert what_could_run(html) == []
    assert "<b>raw</b>" in html and "alert(" not in html


def test_the_sanitiser_keeps_formatting_and_drops_what_runs() -> None:
    assert clean_html("<h3 id='x'>T</h3><p style='color:red'>p</p>") == '<h3 id="x">T</h3><p>p</p>'
    assert clean_html("<img src='data:image/png;base64,AAAA' onerror='x()'>") == (
        '<img src="data:image/png;base64,AAAA">')
    assert clean_html("<a href='data:text/html,<script>x</script>'>a</a>") == "<a>a</a>"
    assert clean_html("<form action='/x'><input name=a></form>ok") == "ok"
    nested = clean_html("<scr<script>ipt>alert(1)</script>")
    assert what_could_run(nested) == [] and "alert" not in nested


def test_an_export_larger_than_its_bound_is_refused() -> None:
    with pytest.raises(NotebookError, match="more than the 1000 allowed"):
        to_html(make_notebook("print(1)"), max_bytes=1000)


def test_exports_in_several_threads_at_once_agree() -> None:
    nb = make_notebook("print(1)", "x = 2")
    pages: list[str] = []

    def work() -> None:
        pages.append(to_html(nb))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(pages) == 3
    assert len({re.sub(r'id="[^"]*"', "", p) for p in pages}) == 1


def test_the_policy_to_serve_it_with_forbids_scripts() -> None:
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY and "sandbox" in CONTENT_SECURITY_POLICY
