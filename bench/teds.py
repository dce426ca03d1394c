"""TEDS (PubTabNet's tree-edit-distance similarity) between two HTML tables, on the whole and on
the structure alone, after normalising both alike: th -> td, thead/tbody dropped, b/i/sup/sub
unwrapped, NFKC, whitespace collapsed (the PubTabNet set's SOURCE.md). APTED computes the
distance.
"""

from __future__ import annotations

import unicodedata
from html.parser import HTMLParser

from apted import APTED, Config  # type: ignore[import-untyped]


class Node:
    def __init__(self, tag: str, colspan: int = 1, rowspan: int = 1):
        self.tag, self.colspan, self.rowspan = tag, colspan, rowspan
        self.content: list[str] = []
        self.children: list[Node] = []


class _TreeBuilder(HTMLParser):
    """The first <table>'s tree: table > tr > td, each td with its text (characters)."""

    SKIP = {"thead", "tbody", "tfoot", "b", "i", "sup", "sub", "strong", "em", "span", "br", "html", "body"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: Node | None = None
        self.stack: list[Node] = []
        self.done = False

    def handle_starttag(self, tag, attrs):
        if self.done or tag in self.SKIP:
            return
        tag = "td" if tag == "th" else tag
        values = dict(attrs)
        node = Node(tag, int(values.get("colspan") or 1), int(values.get("rowspan") or 1))
        if tag == "table" and self.root is None:
            self.root = node
            self.stack = [node]
        elif self.stack and tag in ("tr", "td"):
            while self.stack and not _may_hold(self.stack[-1].tag, tag):
                self.stack.pop()
            if self.stack:
                self.stack[-1].children.append(node)
                self.stack.append(node)

    def handle_endtag(self, tag):
        tag = "td" if tag == "th" else tag
        if self.done or tag in self.SKIP:
            return
        if tag == "table":
            self.done = True
            return
        while self.stack and self.stack[-1].tag != tag and self.stack[-1].tag != "table":
            self.stack.pop()
        if self.stack and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_data(self, data):
        if not self.done and self.stack and self.stack[-1].tag == "td":
            self.stack[-1].content.append(data)


def _may_hold(parent: str, child: str) -> bool:
    return (parent == "table" and child == "tr") or (parent == "tr" and child == "td")


def _normal_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def parse(html: str, structure_only: bool) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    root = builder.root or Node("table")
    for node in _walk(root):
        text = _normal_text("".join(node.content))
        node.content = [] if structure_only else list(text)
    return root


def _walk(node: Node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _levenshtein(a: list[str], b: list[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


class _TedsConfig(Config):
    """PubTabNet's costs: insert and delete 1; rename 1 between different tags or spans, else
    for cells the normalised edit distance of their texts, else 0."""

    def rename(self, a: Node, b: Node) -> float:
        if a.tag != b.tag or a.colspan != b.colspan or a.rowspan != b.rowspan:
            return 1.0
        if a.tag == "td" and (a.content or b.content):
            return _levenshtein(a.content, b.content) / max(len(a.content), len(b.content))
        return 0.0

    def children(self, node: Node) -> list[Node]:
        return node.children


def teds(predicted: str, truth: str, structure_only: bool = False) -> float:
    """1 - TED(pred, truth) / max(|pred|, |truth|), nodes counted as trees of table, tr, td."""
    a, b = parse(predicted, structure_only), parse(truth, structure_only)
    size = max(sum(1 for _ in _walk(a)), sum(1 for _ in _walk(b)))
    distance = APTED(a, b, _TedsConfig()).compute_edit_distance()
    return max(0.0, 1.0 - distance / size)
