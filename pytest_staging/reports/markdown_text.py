"""The one Markdown escaper: untrusted text (a reason, a response snippet, a URL, a test id)
as inline text (:func:`md_escape`) or as a code span (:func:`md_code`). Every Markdown writer
uses these (verdict.md, the gates' sections, ``pytest-staging diff``); this module imports
nothing of the plugin, so a gate's report can use it without an import cycle."""

from __future__ import annotations

import re

#: Characters with a meaning in GitHub-flavoured Markdown inline text (emphasis, code, links
#: and images, tables, strikethrough, math), backslash-escaped. A line never starts with
#: untrusted text here, so line-start syntax (#, -, +, >) cannot apply.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|~$])")
#: An underscore opens or closes emphasis only at a word's edge: ``test_checkout`` stays
#: greppable, ``_x_`` is escaped.
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
#: ``:white_check_mark:`` renders as an emoji on GitHub: a fake green tick.
_EMOJI = re.compile(r":([A-Za-z0-9_+-]+):")
#: What could open an HTML tag, comment or declaration.
_TAG_START = re.compile(r"<[A-Za-z/!?]")


def md_escape(text: object) -> str:
    """The one Markdown escaper: untrusted text (a reason, a response snippet, a URL) as
    plain inline text. HTML becomes entities, Markdown syntax is backslash-escaped, emoji
    shortcodes are broken up, and newlines become spaces (a cell or a list item stays one)."""
    value = _EMOJI.sub(":\u200b\\1\u200b:", str(text))
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    value = _EDGE_UNDERSCORE.sub(r"\\_", value)
    return " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value


def md_code(text: object) -> str:
    """Untrusted text as a whole code span, backticks included, on one line: a backtick in
    it cannot end the span early, a pipe cannot end a table cell (GFM reads ``\\|`` as a
    pipe in a table, code spans included), and no HTML tag reaches the file (a renderer that
    is not CommonMark could read it as HTML; ``p95 < 300ms`` stays as it is). Empty text is
    ``-``."""
    value = " ".join(str(text).split())
    if _TAG_START.search(value):
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("`", "'").replace("|", "\\|")
    return f"`{value}`" if value else "-"


#: What a link destination may not hold as it is: a parenthesis would end it early, a space,
#: angle bracket, quote or backslash would change what the renderer reads.
_LINK_UNSAFE = re.compile(r"[\s()<>\"'\\`|\[\]]")


def md_link(text: object, url: str) -> str:
    """A link whose text is escaped untrusted text and whose destination is ``url`` with every
    character that could end or bend the destination percent-encoded; plain text when the
    URL is not http(s)."""
    if not re.match(r"(?i)https?://", url):
        return md_escape(text)
    target = _LINK_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)
    return f"[{md_escape(text)}]({target})"
