"""The printed record laid out with ReportLab: landscape A4 pages, a running header with
the release state and a footer with "Page X of Y" on every page, long tables split across
pages with their header repeated.

EU GMP Annex 11 §8.2 asks for clear printed copies of electronically stored data. The
fonts are embedded TrueType, so what is printed is exactly what is stored. A 200-step
record is several hundred table rows: plain cells are drawn as strings wrapped once per
column width, and only cells with emphasis become paragraphs (see `_cell`).
"""

import functools
import io
from pathlib import Path
from xml.sax.saxutils import escape, unescape

import reportlab
from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import CondPageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .printed import ARROW, Banner, Grid, Pairs, Text, printed_record

PAGE_SIZE = landscape(A4)
MARGIN = 12 * mm
# The frame's width inside the margins and its padding; column widths are shares of it.
CONTENT_WIDTH = PAGE_SIZE[0] - 2 * MARGIN - 12
# Long sections are printed as tables of this many rows each (each repeats its header).
TABLE_CHUNK_ROWS = 20
CELL_FONT_SIZE, CELL_LEADING, CELL_PADDING = 7, 8.5, 3
SPLIT_CACHE_SIZE = 20_000
# A table whose tallest row is taller than this may split inside a row at a page end
# (ReportLab's splitInRow, which costs layout time on every table that has it).
TALL_ROW = (PAGE_SIZE[1] - 2 * MARGIN) / 3
# A heading or an introduction starts a new page when less than this is left below it, so
# that it is never alone at the bottom of a page. (Keeping it with the whole next table
# instead would push a long table to the next page and leave a page nearly empty.)
ROOM_BELOW_HEADING = {"h2": 110, "intro": 80}
# Label/value lists: label, value, label, value.
PAIR_WIDTHS = (1, 3, 1, 3)
# A font that prints names with accents, "°" and "→", where the system has one.
SYSTEM_FONTS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
)
RED = colors.HexColor("#b00020")
GREEN = colors.HexColor("#1b5e20")
HEADER_FILL = colors.HexColor("#37474f")
ALERT_FILL = colors.HexColor("#fff3cd")
LABEL_FILL = colors.HexColor("#eceff1")
GRID = colors.HexColor("#90a4ae")


# --- fonts and styles -----------------------------------------------------------------


@functools.cache
def _fonts():
    """(regular, bold, arrow): TrueType fonts embedded in the PDF (settings.EBR_EXPORT_FONTS
    may name a regular and a bold .ttf; otherwise a system DejaVu Sans, else the font
    shipped with ReportLab), and how they print an arrow."""
    bundled = Path(reportlab.__file__).parent / "fonts"
    configured = getattr(settings, "EBR_EXPORT_FONTS", None)
    candidates = [tuple(configured)] if configured else []
    candidates += [*SYSTEM_FONTS, (bundled / "Vera.ttf", bundled / "VeraBd.ttf")]
    for regular, bold in candidates:
        if Path(regular).is_file() and Path(bold).is_file():
            regular_font = _ExportFont("EBRExport", str(regular))
            pdfmetrics.registerFont(regular_font)
            pdfmetrics.registerFont(_ExportFont("EBRExport-Bold", str(bold)))
            pdfmetrics.registerFontFamily(
                "EBRExport", normal="EBRExport", bold="EBRExport-Bold", italic="EBRExport", boldItalic="EBRExport-Bold"
            )
            arrow = ARROW if ord(ARROW) in regular_font.face.charToGlyph else "->"
            return "EBRExport", "EBRExport-Bold", arrow
    return "Helvetica", "Helvetica-Bold", "->"


class _ExportFont(TTFont):
    """A TrueType font that remembers, per document, how it split each string into its
    embedded subsets. The export prints the same names, statuses, meanings and labels
    thousands of times, and ReportLab maps every character of every string again each time
    (a Python loop). Once a string was split its characters keep their codes for the whole
    document, so the answer cannot change. At most SPLIT_CACHE_SIZE strings per document."""

    def splitString(self, text, doc, encoding="utf-8"):
        state = self.state.get(doc)
        splits = getattr(state, "ebr_splits", None)
        if splits is not None and text in splits:
            return splits[text]
        result = super().splitString(text, doc, encoding)
        if splits is None:
            splits = self.state[doc].ebr_splits = {}
        if len(splits) < SPLIT_CACHE_SIZE:
            splits[text] = result
        return result


@functools.cache
def _styles():
    regular, bold, _ = _fonts()
    cell = ParagraphStyle("cell", fontName=regular, fontSize=CELL_FONT_SIZE, leading=CELL_LEADING)
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=15, leading=19, spaceAfter=4),
        "h2": ParagraphStyle("h2", fontName=bold, fontSize=11, leading=14, spaceBefore=10, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=11),
        "intro": ParagraphStyle("intro", fontName=regular, fontSize=8.5, leading=11),
        "banner": ParagraphStyle("banner", fontName=bold, fontSize=13, leading=16, textColor=colors.white),
        "cell": cell,
        "head": ParagraphStyle("head", parent=cell, fontName=bold, textColor=colors.white),
        "label": ParagraphStyle("label", parent=cell, fontName=bold),
    }


# --- cells ----------------------------------------------------------------------------


class _CellParagraph(Paragraph):
    """A table cell's paragraph. A table wraps each cell to measure it, again to draw it,
    and again after splitting at a page end, always at the column's width: the line
    breaking is done once per width (most of the rendering time otherwise)."""

    _wrapped_for = None

    def wrap(self, availWidth, availHeight):
        # Splitting at a page end may drop the lines (blPara): then break them again.
        if self._wrapped_for == availWidth and hasattr(self, "blPara"):
            return self.width, self.height
        size = super().wrap(availWidth, availHeight)
        self._wrapped_for = availWidth
        return size


@functools.lru_cache(maxsize=8192)
def _split_line(line, width):
    """A line of cell text broken at `width` (names, statuses and labels recur thousands of
    times in one record; their breaking never changes)."""
    return tuple(simpleSplit(line, _fonts()[0], CELL_FONT_SIZE, width) or [""])


def _cell(markup, width, style="cell"):
    """A cell of `width` points. Plain text (no markup but line breaks) becomes a string
    wrapped once at the column's inner width: a table draws strings far faster than
    paragraphs, and most cells of an executed batch record (values, names, times, trail
    entries) are plain. Text with emphasis becomes a paragraph."""
    arrow = _fonts()[2]
    if arrow != ARROW:
        markup = markup.replace(ARROW, arrow)
    if style == "cell" and "<" not in markup.replace("<br/>", ""):
        inner = width - 2 * CELL_PADDING
        lines = []
        for line in markup.split("<br/>"):
            lines.extend(_split_line(unescape(line), inner))
        return "\n".join(lines)
    return _CellParagraph(markup, _styles()[style])


def _widths(shares):
    total = sum(shares)
    return [CONTENT_WIDTH * share / total for share in shares]


def _row_height(cells, widths):
    """The height a row will take: pre-wrapped strings by their lines, paragraphs as
    wrapped at their column's inner width (ReportLab reuses that wrap when it lays out)."""
    tallest = 0
    for cell, width in zip(cells, widths, strict=False):
        if isinstance(cell, str):
            height = (cell.count("\n") + 1) * CELL_LEADING
        else:
            height = cell.wrap(width - 2 * CELL_PADDING, PAGE_SIZE[1])[1]
        tallest = max(tallest, height)
    return tallest + 4


def _cell_style(regular):
    return [
        ("FONT", (0, 0), (-1, -1), regular, CELL_FONT_SIZE, CELL_LEADING),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
    ]


# --- blocks ---------------------------------------------------------------------------


def _grid(grid):
    """Tables of at most TABLE_CHUNK_ROWS rows that split across pages, repeat their
    header and wrap long text; a group of rows is never split between two tables."""
    if not grid.groups:
        return [Paragraph("None recorded.", _styles()["body"])]
    widths = _widths([share for _, share in grid.columns])
    titles = [title for title, _ in grid.columns]
    head = [_cell(f"<b>{escape(title)}</b>", width, "head") for title, width in zip(titles, widths, strict=True)]
    flowables, chunk = [], []
    for group in grid.groups:
        if chunk and len(chunk) + len(group) > TABLE_CHUNK_ROWS:
            flowables.append(_table(head, chunk, widths))
            chunk = []
        chunk.extend(group)
    flowables.append(_table(head, chunk, widths))
    return flowables


def _table(head, rows, widths):
    data = [head]
    commands = [
        *_cell_style(_fonts()[0]),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for index, row in enumerate(rows, start=1):
        if row.kind == "note":
            spanned = (widths[0], sum(widths[1:]))
            cells = [_cell(markup, width) for markup, width in zip(row.cells, spanned, strict=True)]
            data.append([*cells, *([""] * (len(widths) - 2))])
            commands.append(("SPAN", (1, index), (-1, index)))
            commands.append(("BACKGROUND", (0, index), (-1, index), ALERT_FILL))
        else:
            data.append([_cell(markup, width) for markup, width in zip(row.cells, widths, strict=True)])
            if row.kind == "alert":
                commands.append(("BACKGROUND", (0, index), (-1, index), ALERT_FILL))
    tall = any(_row_height(row, widths) > TALL_ROW for row in data)
    table = Table(data, colWidths=widths, repeatRows=1, splitInRow=int(tall), hAlign="LEFT")
    table.setStyle(TableStyle(commands))
    return table


def _pairs(pairs):
    """Two label/value pairs a row, labels shaded."""
    widths = _widths(PAIR_WIDTHS)
    rows = []
    for start in range(0, len(pairs.items), 2):
        row = []
        for label, markup in pairs.items[start : start + 2]:
            column = len(row)
            row += [_cell(escape(label), widths[column], "label"), _cell(markup, widths[column + 1])]
        rows.append(row + [""] * (4 - len(row)))
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                *_cell_style(_fonts()[0]),
                ("BACKGROUND", (0, 0), (0, -1), LABEL_FILL),
                ("BACKGROUND", (2, 0), (2, -1), LABEL_FILL),
            ]
        )
    )
    return [table, Spacer(1, 4)]


def _banner(banner):
    table = Table([[Paragraph(escape(banner.text), _styles()["banner"])]], colWidths=[CONTENT_WIDTH], hAlign="LEFT")
    table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), GREEN if banner.released else RED)]))
    return [table, Spacer(1, 6)]


def _flowables(block):
    if isinstance(block, Text):
        paragraph = Paragraph(block.markup, _styles()[block.style])
        room = ROOM_BELOW_HEADING.get(block.style)
        return [CondPageBreak(room), paragraph] if room else [paragraph]
    if isinstance(block, Banner):
        return _banner(block)
    if isinstance(block, Pairs):
        return _pairs(block)
    if isinstance(block, Grid):
        return _grid(block)
    raise TypeError(f"Cannot print a {type(block).__name__}")


# --- pages ----------------------------------------------------------------------------


def _page_decorator(record):
    """A canvas class that draws the header and footer, with "Page X of Y", on every page
    once the number of pages is known."""
    regular, bold, _ = _fonts()
    width, height = PAGE_SIZE

    def fit(text, font, size, room):
        while pdfmetrics.stringWidth(text, font, size) > room and len(text) > 1:
            text = text[:-2] + "…"
        return text

    class ExportCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("initialFontName", regular)
            super().__init__(*args, **kwargs)
            self._pages = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, page in enumerate(self._pages, start=1):
                self.__dict__.update(page)
                self._decorate(number, total)
                super().showPage()
            super().save()

        def _decorate(self, number, total):
            self.saveState()
            state_width = pdfmetrics.stringWidth(record.state, bold, 9)
            self.setFont(bold, 9)
            self.setFillColor(GREEN if record.released else RED)
            self.drawRightString(width - MARGIN, height - MARGIN, record.state)
            self.setFillColor(colors.black)
            room = width - 2 * MARGIN - state_width - 12
            self.drawString(MARGIN, height - MARGIN, fit(record.running_title, bold, 9, room))
            self.setStrokeColor(GRID)
            self.line(MARGIN, height - MARGIN - 4, width - MARGIN, height - MARGIN - 4)
            self.line(MARGIN, MARGIN + 10, width - MARGIN, MARGIN + 10)
            self.setFont(regular, 7.5)
            page = f"Page {number} of {total}"
            self.drawRightString(width - MARGIN, MARGIN, page)
            room = width - 2 * MARGIN - pdfmetrics.stringWidth(page, regular, 7.5) - 12
            self.drawString(MARGIN, MARGIN, fit(record.footer, regular, 7.5, room))
            self.restoreState()

    return ExportCanvas


def render(record):
    """The PDF of a printed record (`printed.printed_record`)."""
    story = [flowable for block in record.blocks for flowable in _flowables(block)]
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=PAGE_SIZE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 8 * mm,
        bottomMargin=MARGIN + 8 * mm,
        title=record.title,
        subject=record.subject,
        author="EBR API",
        creator="EBR API",
    )
    pdf.build(story, canvasmaker=_page_decorator(record))
    return buffer.getvalue()


def render_batch_export_pdf(document):
    """The export document printed: a PDF of the executed batch record."""
    return render(printed_record(document))
