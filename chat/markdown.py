"""Assistant answers from Markdown to safe HTML.

markdown-it (CommonMark, raw HTML off) renders; nh3 then keeps only an allow-list of tags and attributes,
whatever the renderer let through. Images are never rendered (an image from another site would tell it
that the patient read this answer): their alt text stays. Links to other sites are marked as external and
open with no referrer. Citation markers "[1]" become links to the answer's citation list.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import nh3
from django.utils.html import escape
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "hr", "span", "sup",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "class", "title"}, "span": {"class"}, "sup": {"class"}, "ol": {"start"}}
_CITATION = re.compile(r"\[(\d{1,3})\](?!\()")


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

    def image(renderer, tokens, idx, options, env):
        # The alt text only: nothing is fetched from anywhere.
        return escape(tokens[idx].content)

    def heading_open(renderer, tokens, idx, options, env):
        # Answers sit inside a page: their headings start at h3.
        level = min(6, max(3, int(tokens[idx].tag[1]) + 2))
        return f"<h{level}>"

    def heading_close(renderer, tokens, idx, options, env):
        level = min(6, max(3, int(tokens[idx].tag[1]) + 2))
        return f"</h{level}>"

    md.add_render_rule("image", image)
    md.add_render_rule("heading_open", heading_open)
    md.add_render_rule("heading_close", heading_close)
    return md


_MD = _renderer()


def is_external(href: str) -> bool:
    parts = urlsplit(href)
    return bool(parts.scheme or parts.netloc)


def _mark_links(tag: str, name: str, value: str) -> str | None:
    if tag == "a" and name == "href":
        parts = urlsplit(value)
        if parts.scheme and parts.scheme not in ("http", "https", "mailto"):
            return None
    return value


def render(text: str, *, anchor_prefix: str = "") -> str:
    """Safe HTML for an assistant answer. anchor_prefix: the id prefix of the answer's citation list."""
    if anchor_prefix:
        text = _CITATION.sub(lambda m: f"[\\[{m.group(1)}\\]](#{anchor_prefix}-{m.group(1)})", text)
    html = _MD.render(text)
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_mark_links,
        strip_comments=True,
    )
    return _external_marks(cleaned)


_LINK = re.compile(r'<a href="(?P<href>[^"]*)"(?P<rest>[^>]*)>', re.IGNORECASE)


def _external_marks(html: str) -> str:
    """Links leaving HealthSpace: a class, a title that says so, and a visible mark after the text."""
    title = escape(_("Opens another website"))

    def mark(match: re.Match) -> str:
        href = match.group("href")
        if not is_external(href.replace("&amp;", "&")):
            return match.group(0)
        return f'<a href="{href}" class="external" title="{title}"{match.group("rest")}>'

    html = _LINK.sub(mark, html)
    # The mark after each external link's text, outside the link.
    return re.sub(
        r'(<a href="[^"]*" class="external"[^>]*>.*?</a>)', r'\1<span class="external-mark">↗</span>', html, flags=re.S
    )
