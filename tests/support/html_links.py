"""The links of an HTML page and the files a browser opens for them (report tests)."""
from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote_to_bytes, urljoin, urlparse


class Links(HTMLParser):
    """The ``src`` of every <img> (``images``) and the ``href`` of every <a> (``anchors``)."""

    def __init__(self):
        super().__init__()
        self.images, self.anchors = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a" and "href" in attrs:
            self.anchors.append(attrs["href"])


def links(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def link_target(page: Path, link: str) -> Path:
    """The file a browser opens for ``link`` on ``page``: a ``#`` starts a fragment, a ``?`` a
    query, and %-escapes are the bytes of the file name."""
    url = urlparse(urljoin(page.resolve().as_uri(), link))
    assert not url.fragment and not url.query, f"{link!r} is cut at a # or ? of the file name"
    return Path(os.fsdecode(unquote_to_bytes(url.path)))
