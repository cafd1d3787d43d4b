"""Markdown in education items: hostile input is refused on write and defused on render."""

import re

import pytest

from api.services.common import markdown
from tests.test_foundation import assert_problem

EVENT_HANDLER_IN_TAG = re.compile(r"<[a-z][^>]*\son\w+\s*=")
HOSTILE = {
    "script tag": "Hello <script>alert(1)</script>",
    "script block": "<script>\nalert(document.cookie)\n</script>",
    "img onerror": '<img src="x" onerror="alert(1)">',
    "svg onload": "<svg onload=alert(1)>",
    "iframe": "<iframe src='https://evil.example'></iframe>",
    "html comment": "a <!-- <script>alert(1)</script> --> b",
    "javascript link": "[click](javascript:alert(1))",
    "upper-case scheme": "[click](JaVaScRiPt:alert(1))",
    "entity-encoded scheme": "[click](java&#x73;cript:alert(1))",
    "decimal entities": "[click](&#106;avascript:alert(1))",
    "autolink": "<javascript:alert(1)>",
    "reference link": "[click][evil]\n\n[evil]: javascript:alert(1)",
    "data image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "data html link": "[x](data:text/html,<script>alert(1)</script>)",
    "vbscript": "[x](vbscript:msgbox(1))",
    "http link": "[x](http://example.org)",
    "protocol-relative": "[x](//evil.example/x)",
    "nested in list": "- item\n  - [deep](javascript:alert(1))",
    "nested in emphasis": "**[bold](javascript:alert(1))**",
    "image in link": "[![i](https://ok.example/i.png)](javascript:alert(1))",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markdown_is_refused_and_rendered_harmless(text):
    assert markdown.problems(text)
    html = markdown.render(text).lower()
    assert "<script" not in html
    assert "<svg" not in html and "<iframe" not in html
    assert not EVENT_HANDLER_IN_TAG.search(html)
    assert 'href="javascript' not in html and 'href="vbscript' not in html
    assert 'href="data:' not in html and 'src="data:' not in html
    assert 'href="http:' not in html and 'href="//' not in html


def test_raw_html_is_escaped_as_text():
    html = markdown.render('<img src=x onerror="alert(1)"> and <b>bold</b>')
    assert html == (
        "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt; and &lt;b&gt;bold&lt;/b&gt;</p>\n"
    )


def test_safe_markdown_renders_and_passes():
    text = (
        "# Title\n\nSome *care* with [NHS](https://www.nhs.uk/) and "
        "[email](mailto:team@example.org) and [top](#title).\n\n"
        "| zone | share |\n|---|---|\n| green | 80% |\n\n`<script>` in code is text."
    )
    assert markdown.problems(text) == []
    html = markdown.render(text)
    assert '<a href="https://www.nhs.uk/">NHS</a>' in html
    assert '<a href="mailto:team@example.org">' in html
    assert "<table>" in html
    assert "<code>&lt;script&gt;</code>" in html


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://www.nhs.uk", True),
        ("  HTTPS://x.org", True),
        ("mailto:a@b.org", True),
        ("#section", True),
        ("java\tscript:alert(1)", False),
        ("\x00javascript:alert(1)", False),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("http://x.org", False),
        ("/relative/path", False),
        ("", False),
    ],
)
def test_safe_link(url, safe):
    assert markdown.safe_link(url) is safe


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_posting_hostile_markdown_is_422_naming_body_and_stores_nothing(
    client, factory, mongo, text
):
    provider = factory.provider()
    response = client.post(
        "/api/v1/education",
        json={
            "title": "Hostile",
            "summary": "Should never be stored.",
            "body": text,
            "audience": "patient",
            "reading_minutes": 3,
        },
        headers=factory.headers(provider),
    )
    body = assert_problem(response, 422)
    assert list(body["errors"]) == ["body"]
    assert mongo.education_items.count_documents({}) == 0
