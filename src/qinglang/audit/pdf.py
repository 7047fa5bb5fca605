"""report.pdf: the report's own HTML printed by Chromium, in a CJK font qinglang brings along.

The font is Noto Sans CJK (the variable collection in the `manimgx-fonts-cjk` package, SIL Open
Font License 1.1), so a machine with no Chinese font (or no font at all) prints the report as it
should, and every machine prints it in the same face. For each document:

1. the Simplified Chinese face is cut down to the characters the document uses (fontTools, a
   matplotlib dependency), set at two weights (400 and 700: body text and real bold) and its
   outlines turned from CFF into TrueType, which Chromium embeds in the PDF as a named font
   (a CFF web font would become an unnamed Type 3 font);
2. a copy of report.html gets an ``@font-face`` for those two files, a style that sets every text
   (body, code, the charts' SVG text and the page's margin boxes) in them, the page numbers and
   the manifest's SHA-256 on every page, and ``font-src 'self'`` in its Content-Security-Policy.
   report.html itself is not changed;
3. Chromium (Debian's, or any found; driven by Playwright) opens that copy at a made-up https
   origin whose every request Playwright answers: the document and the two fonts, nothing else
   (no network, no file:// reads);
4. Chromium also sees the two files through fontconfig, added to the system's configuration: it
   does not start without at least one font, so even a machine with none can print.

Rendering is bounded: the characters set in the embedded font are capped (the most frequent
``MAX_CHARS``; any others fall back to the system's fonts), and Chromium is given ``timeout``
seconds, after which it is closed and PdfError says so.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from html import escape as xml_escape
from pathlib import Path
from typing import Any

from qinglang.errors import ConfigError, QinglangError

PDF_NAME = "report.pdf"
FONT_PACKAGE = "manimgx-fonts-cjk"
FONT_MODULE = "manimgx_fonts_cjk"
FONT_FILE = "NotoSansCJK-VF.otf.ttc"
FACE = "Noto Sans CJK SC"  # the collection's Simplified Chinese face
FAMILY = "qinglang CJK"  # the CSS family the PDF copy sets every text in
WEIGHTS = {400: "Regular", 700: "Bold"}
MAX_CHARS = 2000  # distinct characters in the embedded font (a report has ~500; 2,000: ~17 s)
TIMEOUT_S = 120.0  # Chromium's time to print one report
ORIGIN = "https://report.qinglang.invalid"  # never resolved: Playwright answers every request
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "--pdf needs Chromium: install it (Debian/Ubuntu: apt-get install chromium), or run "
    "`playwright install chromium`, or set QINGLANG_CHROMIUM to a Chromium or Chrome executable"
)


class PdfError(QinglangError):
    """The PDF could not be printed (Chromium failed or ran out of time): exit 1."""


def chromium_path() -> str | None:
    """The Chromium to print with: $QINGLANG_CHROMIUM, else the first on PATH, else None
    (Playwright's own download, if any, is then tried)."""
    given = os.environ.get("QINGLANG_CHROMIUM")
    if given:
        return given
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def check() -> None:
    """Fail before any work, with one line naming what to install, when --pdf cannot work."""
    try:
        import fontTools  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"--pdf needs the Python package {exc.name}: pip install playwright fonttools"
        ) from None
    _font_file()
    given = os.environ.get("QINGLANG_CHROMIUM")
    if given and not Path(given).is_file():
        raise ConfigError(f"QINGLANG_CHROMIUM={given}: no such file. " + INSTALL_HINT)
    if chromium_path() is None and not _playwright_browser():
        raise ConfigError(INSTALL_HINT)


def _playwright_browser() -> str | None:
    """Playwright's own Chromium (`playwright install chromium`), if downloaded."""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # noqa: BLE001  (no driver, no browser: there is none)
        return None
    return path if path and Path(path).is_file() else None


def _font_file() -> Path:
    from importlib import resources

    try:
        path = Path(str(resources.files(FONT_MODULE).joinpath(FONT_FILE)))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise ConfigError(
            f"--pdf needs the font package {FONT_PACKAGE}: pip install {FONT_PACKAGE}"
        )
    return path


# ---- the font ------------------------------------------------------------------------------


def document_chars(html: str, limit: int = MAX_CHARS) -> str:
    """The characters to set in the embedded font: those of the document (markup included, a
    superset of its text) and of the page numbers, the `limit` most frequent if more."""
    always = "0123456789 /·:-"  # the page numbers and the margin's stamp
    counts = Counter(c for c in html if c.isprintable() and c not in always)
    return always + "".join(c for c, _ in counts.most_common(max(0, limit - len(always))))


def make_fonts(chars: str, out_dir: Path) -> dict[int, Path]:
    """`chars` of Noto Sans CJK SC at each weight of WEIGHTS, as TrueType files in `out_dir`."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection, TTFont
    from fontTools.varLib.instancer import instantiateVariableFont

    source = _font_file()
    index = _face_index(TTCollection(str(source), lazy=True))
    font = TTFont(str(source), fontNumber=index, lazy=True)
    options = subset.Options()
    options.name_IDs = ["*"]  # keep the copyright, licence and vendor records
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.desubroutinize = True
    options.drop_tables += ["VORG", "vhea", "vmtx", "STAT"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    paths = {}
    for weight, style in WEIGHTS.items():
        static = instantiateVariableFont(font, {"wght": weight}, inplace=False)
        _to_truetype(static)
        _name(static, style)
        paths[weight] = out_dir / f"NotoSansCJKsc-{style}.ttf"
        static.save(str(paths[weight]))
    return paths


def _face_index(collection: Any) -> int:
    for i, face in enumerate(collection.fonts):
        if face["name"].getDebugName(1) == FACE:
            return i
    raise PdfError(f"{FONT_PACKAGE}'s {FONT_FILE} has no {FACE} face")


def _to_truetype(font: Any) -> None:
    """CFF outlines -> TrueType (quadratic) outlines, in place."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyphs = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for tag in ("CFF ", "CFF2", "VORG"):
        if tag in font:
            del font[tag]
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
        "maxStackElements", "maxSizeOfInstructions", "maxComponentElements", "maxComponentDepth",
    ):  # fmt: skip
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"


def _name(font: Any, style: str) -> None:
    """The instance's names (the variable font's default instance is Thin)."""
    table = font["name"]
    ps = f"NotoSansCJKsc-{style}"
    for rec in list(table.names):
        if rec.nameID in (2, 3, 4, 6, 17):
            table.removeNames(nameID=rec.nameID)
    for name_id, value in (
        (1, FACE), (2, style), (3, f"2.004;GOOG;{ps};qinglang-subset"), (4, f"{FACE} {style}"),
        (6, ps), (16, FACE), (17, style),
    ):  # fmt: skip
        table.setName(value, name_id, 3, 1, 0x409)
        table.setName(value, name_id, 1, 0, 0)
    font["OS/2"].usWeightClass = [w for w, s in WEIGHTS.items() if s == style][0]
    bold = style == "Bold"
    font["OS/2"].fsSelection = (font["OS/2"].fsSelection & ~0b1100001) | (0x20 if bold else 0x40)
    font["head"].macStyle = 1 if bold else 0


# ---- the document --------------------------------------------------------------------------


def pdf_html(html: str, stamp: str | None = None) -> str:
    """report.html as printed: the embedded font for every text, the page numbers and `stamp`
    (the manifest's SHA-256 line) in every page's margin, fonts allowed from the page's own
    origin. Nothing else is changed."""
    faces = "".join(
        f'@font-face {{ font-family: "{FAMILY}"; font-weight: {w}; font-style: normal; '
        f'src: url("/fonts/{w}.ttf") format("truetype"); }}\n'
        for w in WEIGHTS
    )
    margin = f'font-family: "{FAMILY}", sans-serif; font-size: 8pt; color: #5b6475;'
    left = f"@bottom-left {{ content: {_css_string(stamp)}; {margin} }}" if stamp else ""
    style = (
        f"<style>\n{faces}"
        f'html, body, code, pre, kbd, samp, table, input {{ font-family: "{FAMILY}", sans-serif; }}\n'
        f'svg text {{ font-family: "{FAMILY}", sans-serif !important; }}\n'
        f'@page {{ @bottom-right {{ content: counter(page) " / " counter(pages); {margin} }}'
        f" {left} }}\n</style>\n"
    )

    def allow_fonts(match: re.Match[str]) -> str:
        return match.group(1) + "font-src 'self'; " + match.group(2)

    html = re.sub(
        r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*")',
        allow_fonts,
        html,
        count=1,
    )
    head_end = html.find("</head>")
    if head_end < 0:
        return style + html
    return html[:head_end] + style + html[head_end:]


def _css_string(text: str) -> str:
    out = "".join(c if c.isprintable() and c not in '"\\' else f"\\{ord(c):x} " for c in text)
    return f'"{out}"'


# ---- printing ------------------------------------------------------------------------------


@dataclass
class Printed:
    pages: int | None
    seconds: float
    chromium: str


def write_pdf(
    html: str,
    out: Path,
    stamp: str | None = None,
    timeout: float = TIMEOUT_S,
    chromium: str | None = None,
) -> Printed:
    """Print `html` (report.html's text) to `out` (written whole, or not at all)."""
    started = time.perf_counter()
    executable = chromium or chromium_path()
    with tempfile.TemporaryDirectory(prefix="qinglang-pdf-") as scratch:
        work = Path(scratch)
        fonts = make_fonts(document_chars(html), work)
        document = pdf_html(html, stamp).encode("utf-8")
        partial = out.with_name(out.name + ".partial")
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["bytes"] = asyncio.run(
                    asyncio.wait_for(_print(document, fonts, work, executable), timeout=timeout)
                )
            except BaseException as exc:  # noqa: BLE001  (handed to the caller's thread)
                result["error"] = exc

        worker = threading.Thread(target=run, name="qinglang-pdf", daemon=True)
        worker.start()  # its own thread, so a caller's running event loop is never in the way
        worker.join(timeout + 30)  # closing the browser after a timeout takes a moment
        error = result.get("error")
        if worker.is_alive() or isinstance(error, TimeoutError | asyncio.TimeoutError):
            raise PdfError(
                f"{out.name}: Chromium did not print the report within {timeout:g} s "
                f"({len(html) / 1e6:.1f} MB of HTML); report.html is written"
            )
        if error is not None:
            if isinstance(error, QinglangError):
                raise error
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise PdfError(f"{out.name}: Chromium failed: {first}") from error
        body = result["bytes"]
        partial.write_bytes(body)
        partial.replace(out)
    return Printed(
        pages=_page_count(body), seconds=time.perf_counter() - started, chromium=executable or ""
    )


async def _print(
    document: bytes, fonts: dict[int, Path], work: Path, executable: str | None
) -> bytes:
    from playwright.async_api import async_playwright

    served = {f"{ORIGIN}/report.html": ("text/html; charset=utf-8", document)}
    for weight, path in fonts.items():
        served[f"{ORIGIN}/fonts/{weight}.ttf"] = ("font/ttf", path.read_bytes())

    async def answer(route: Any) -> None:
        hit = served.get(route.request.url)
        if hit is None:
            await route.abort()
        else:
            await route.fulfill(status=200, content_type=hit[0], body=hit[1])

    env: dict[str, str | float | bool] = {
        **os.environ,
        "FONTCONFIG_FILE": str(_fontconfig(work, next(iter(fonts.values())).parent)),
    }
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps",
            ],
            env=env,
        )  # fmt: skip
        try:
            context = await browser.new_context(java_script_enabled=False)
            page = await context.new_page()
            await page.route("**/*", answer)
            await page.goto(f"{ORIGIN}/report.html", wait_until="load", timeout=0)
            await page.evaluate("document.fonts.ready.then(() => true)")
            return await page.pdf(
                prefer_css_page_size=True, print_background=True, outline=True, tagged=True
            )
        finally:
            await browser.close()


def _fontconfig(work: Path, fonts_dir: Path) -> Path:
    """The system's font configuration plus the embedded font's files: Chromium will not start
    with no font at all, and this way it never has to."""
    base = os.environ.get("FONTCONFIG_FILE") or "/etc/fonts/fonts.conf"
    conf = work / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f'<fontconfig>\n  <include ignore_missing="yes">{xml_escape(base)}</include>\n'
        f"  <dir>{xml_escape(str(fonts_dir))}</dir>\n"
        f"  <cachedir>{xml_escape(str(work / 'fontconfig-cache'))}</cachedir>\n</fontconfig>\n",
        encoding="utf-8",
    )
    return conf


def _page_count(body: bytes) -> int | None:
    """The page count of the PDF's page tree (its root holds the largest)."""
    found = re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", body)
    return max(int(n) for n in found) if found else None
