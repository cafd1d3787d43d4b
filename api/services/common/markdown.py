"""Markdown for education items: checked strictly on the way in, rendered safely on the way out.

Two lines of defence. `problems()` makes a write fail (422) when the text carries raw HTML
or a link that is not https/mailto/#anchor, so an author learns their content was refused
rather than finding it silently changed. `render()` disables HTML (markdown-it escapes it
as text) and drops every link or image whose destination fails `safe_link`, so even content
that predates a rule change never reaches a client as markup or script.
"""

import re

from markdown_it import MarkdownIt

# Anything a browser might ignore inside a scheme ("java\tscript:") is removed before checking.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
_SAFE_SCHEMES = ("https", "mailto")


def safe_link(url: str) -> bool:
    """https and mailto links and in-page anchors; no javascript:, data:, http: or relative."""
    compact = _IGNORED_IN_SCHEME.sub("", url).lower()
    if compact.startswith("#"):
        return True
    match = _SCHEME.match(compact)
    return bool(match) and match.group(1) in _SAFE_SCHEMES


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.validateLink = safe_link
    return md


def _inspector() -> MarkdownIt:
    """Parses HTML and accepts every link, so `problems` can see what an author wrote."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.validateLink = lambda _url: True
    return md


_RENDERER = _renderer()
_INSPECTOR = _inspector()


def render(text: str) -> str:
    return _RENDERER.render(text)


def _walk(tokens):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def problems(text: str) -> list[str]:
    """Why this Markdown is refused (empty when it is acceptable)."""
    found = []
    for token in _walk(_INSPECTOR.parse(text)):
        if token.type in ("html_block", "html_inline"):
            found.append("Raw HTML is not allowed; write Markdown only.")
        elif token.type in ("link_open", "image"):
            target = str(token.attrGet("href") or token.attrGet("src") or "")
            if not safe_link(target):
                found.append(f"Links must use https (or mailto); refused: {target[:80]!r}.")
    return list(dict.fromkeys(found))
