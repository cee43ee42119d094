"""HTML mail to plain text that keeps Outlook's form tables readable: a two-cell row becomes
"Label: value", wider rows "a | b | c", blockquotes "> " lines; script and style dropped.
Our own small ``HTMLParser``; html2text is only a fallback.
"""


from __future__ import annotations

import re
from html.parser import HTMLParser

# ---------------------------------------------------------------------------------------------
# HTML


class _HtmlText(HTMLParser):
    """HTML to text that keeps table rows as "label: value", so Outlook forms stay readable."""

    BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "tr",
            "table",
            "ul",
            "ol",
            "hr",
            "pre",
            "section",
            "article",
            "header",
            "footer",
            "dl",
            "dt",
            "dd",
            "address",
            "center",
            "title",
        }
    )
    SKIP = frozenset({"script", "style", "head", "xml", "o:p-skip"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0
        self.rows: list[list[list[str]]] = []  # stack of tables: rows being built
        self.cells: list[list[str]] = []  # stack: cells of the current row per table
        self.cell: list[list[str]] | None = None  # stack of cell text buffers

    def _emit(self, text: str) -> None:
        if self.cell:
            self.cell[-1].append(text)
        else:
            self.out.append(text)

    def _newline(self) -> None:
        if self.cell:
            self.cell[-1].append(" ")
        else:
            self.out.append("\n" + ("> " * self.quote))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
            return
        if tag == "blockquote":
            self.quote += 1
            self._newline()
            return
        if tag == "table":
            self.rows.append([])
            self.cells.append([])
            return
        if tag == "tr" and self.cells:
            self.cells[-1] = []
            return
        if tag in {"td", "th"} and self.cells:
            if self.cell is None:
                self.cell = []
            self.cell.append([])
            return
        if tag in self.BLOCK:
            self._newline()
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._emit(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "hr", "p", "div"}:
            self._newline()
        elif tag == "img":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
            return
        if tag in {"td", "th"} and self.cell:
            text = re.sub(r"\s+", " ", "".join(self.cell.pop())).strip()
            if not self.cell:
                self.cell = None
            if self.cells:
                self.cells[-1].append(text)
            return
        if tag == "tr" and self.cells:
            self._flush_row()
            return
        if tag == "table" and self.rows:
            self._flush_row()
            self.rows.pop()
            self.cells.pop()
            self._newline()
            return
        if tag in self.BLOCK:
            self._newline()

    def _flush_row(self) -> None:
        cells = [c for c in self.cells[-1] if c]
        self.cells[-1] = []
        if not cells:
            return
        if len(cells) == 2:
            label = cells[0].rstrip().rstrip(":").rstrip()
            line = f"{label}: {cells[1]}"
        else:
            line = " | ".join(cells)
        if self.cell:  # a table nested in a cell
            self.cell[-1].append(" " + line + " ")
        else:
            self.out.append("\n" + ("> " * self.quote) + line + "\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self._emit(re.sub(r"[ \t\r\n\f]+", " ", data))

    def text(self) -> str:
        while self.cells:  # unclosed tables: keep what was there
            if self.cell:
                for buf in self.cell:
                    self.cells[-1].append(re.sub(r"\s+", " ", "".join(buf)).strip())
                self.cell = None
            self._flush_row()
            self.cells.pop()
        lines = [line.strip() for line in "".join(self.out).split("\n")]
        text = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(html: str) -> str:
    """Render HTML to plain text; table rows of two cells become "label: value" lines."""
    try:
        parser = _HtmlText()
        parser.feed(html)
        parser.close()
        return parser.text()
    except Exception:
        try:
            import html2text  # noqa: PLC0415  # fallback only

            h = html2text.HTML2Text()
            h.body_width = 0
            return str(h.handle(html))
        except Exception:
            return re.sub(r"<[^>]*>", " ", html)
