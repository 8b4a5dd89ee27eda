"""Markdown -> one self-contained HTML page, for the subset our reports write. Standard library only.

to_html(md_text, title, images=None, image_dir="report_files") -> str: a UTF-8 page (`<!doctype html>`,
`<title>` = title, escaped) with a small inline stylesheet. The supported subset, which is the spec:

Blocks (a blank line ends any block):
  - ATX headings `#` .. `######` + space + text (an optional closing run of `#` is dropped).
  - Fenced code: a line starting with ``` opens, the next ``` line closes (or the end of the text);
    the content is escaped verbatim into <pre><code> (no inline formatting inside).
  - Bullet lists: lines starting with `- ` or `* `; numbered lists: `1. ` (any number, then `. `) -> <ol>.
    Consecutive items of one kind form one list; a line indented by 2+ spaces continues the previous
    item (its text joins with a space; an indented list marker starts a nested list).
  - Pipe tables: a header row, a separator row of `---` / `:--` / `:-:` / `--:` cells, body rows.
    A row made only of dashes/colons is a separator wherever it appears, never a data row. `\\|` in a
    cell is a literal `|`. Colons in the separator set the column's text-align.
  - Images on their own line: `![alt](report_files/NAME.png)`. When `images` holds NAME.png (the key is
    the path with the `image_dir + "/"` prefix removed) it is embedded as a base64 data: URI; otherwise
    the relative path is kept as `src`.
  - A line of only `---`, `***` or `___` -> <hr>.
  - Anything else is a paragraph: consecutive non-blank lines that start no other block, joined by spaces.

Inline (headings, paragraphs, list items, table cells, link text):
  - All text is HTML-escaped before any tag is added; Unicode passes through unchanged.
  - `code` (also ``double`` backticks) -> <code>, nothing formatted inside.
  - `**bold**` / `__bold__` -> <strong>; `*em*` -> <em>; `_em_` -> <em> only when both underscores sit at
    word boundaries (so `area_frac`, `D_B` stay literal).
  - `[text](url)` -> <a href="url">; `![alt](src)` -> <img> (same image resolution as above).
  - Backslash escapes: `\\*`, `\\_`, `\\``, `\\|`, `\\[`, ... render the character literally.
  - Bare URLs are not auto-linked; raw HTML is escaped, never passed through.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import re

__all__ = ["to_html"]

CSS = """body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1200px;
  margin: 0 auto; padding: 1em 2em; line-height: 1.45; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }
th { background: #f4f4f4; }
img { max-width: 100%; }
code, pre { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; background: #f3f3f3; }
code { padding: 0 3px; border-radius: 3px; }
pre { padding: 8px 10px; overflow-x: auto; }
pre code { padding: 0; }"""

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$|^(#{1,6})[ \t]*$")
_FENCE = re.compile(r"^\s*```\s*([\w+.-]*)\s*$")
_FENCE_CLOSE = re.compile(r"^\s*```\s*$")
_BULLET = re.compile(r"^([-*])[ \t]+(.*)$")
_NUMBER = re.compile(r"^(\d+)\.[ \t]+(.*)$")
_SEP_CELL = re.compile(r"^\s*:?-+:?\s*$")
_IMAGE_LINE = re.compile(r'^\s*!\[([^\]]*)\]\(\s*([^)\s]+)(?:\s+"[^"]*")?\s*\)\s*$')
_HR = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_PIPE_SPLIT = re.compile(r"(?<!\\)\|")

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r'(!?)\[([^\]]*)\]\(\s*([^)\s]+)(?:\s+"[^"]*")?\s*\)')
_BACKSLASH = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_EM_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_EM_UNDER = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_SLOT = re.compile(r"\x00(\d+)\x00")


def to_html(md_text: str, title: str, images: dict[str, bytes] | None = None,
            image_dir: str = "report_files") -> str:
    """Render `md_text` (the subset in the module docstring) as one self-contained HTML page."""
    ctx = _Ctx(images or {}, image_dir)
    lines = md_text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    body = "\n".join(_blocks(lines, ctx))
    return ("<!doctype html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_esc(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


class _Ctx:
    """What rendering needs besides the text: the image bytes and the folder prefix they are keyed under."""

    def __init__(self, images: dict[str, bytes], image_dir: str):
        self.images = images
        self.prefix = image_dir.rstrip("/") + "/" if image_dir else ""

    def img_src(self, src: str) -> str:
        """A data: URI when the image's bytes were given, else the relative path unchanged."""
        key = src[len(self.prefix):] if self.prefix and src.startswith(self.prefix) else src
        data = self.images.get(key)
        if data is None:
            return src
        mime = mimetypes.guess_type(key)[0] or "image/png"
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


# ---------------------------------------------------------------- blocks

def _blocks(lines: list[str], ctx: _Ctx) -> list[str]:
    """Walk the lines, dispatching each block start to its reader; each reader returns (html, next index)."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        reader = _block_reader(lines, i)
        chunk, i = reader(lines, i, ctx)
        out.append(chunk)
    return out


def _block_reader(lines: list[str], i: int):
    """The reader for the block starting at line i (a paragraph when nothing else matches)."""
    line = lines[i]
    if _FENCE.match(line):
        return _read_fence
    if _HEADING.match(line):
        return _read_heading
    if _is_table_start(lines, i):
        return _read_table
    if _HR.match(line):
        return _read_hr
    if _BULLET.match(line) or _NUMBER.match(line):
        return _read_list
    if _IMAGE_LINE.match(line):
        return _read_image
    return _read_paragraph


def _starts_block(lines: list[str], i: int) -> bool:
    return not lines[i].strip() or _block_reader(lines, i) is not _read_paragraph


def _read_heading(lines, i, ctx):
    m = _HEADING.match(lines[i])
    level = len(m.group(1) or m.group(3))
    return f"<h{level}>{_inline(m.group(2) or '', ctx)}</h{level}>", i + 1


def _read_hr(lines, i, ctx):
    return "<hr>", i + 1


def _read_fence(lines, i, ctx):
    """From an opening ``` line to the next bare ``` line (or the end); the body is escaped verbatim."""
    lang = _FENCE.match(lines[i]).group(1)
    j = i + 1
    while j < len(lines) and not _FENCE_CLOSE.match(lines[j]):
        j += 1
    cls = f' class="language-{_esc(lang)}"' if lang else ""
    return f"<pre><code{cls}>{_esc(chr(10).join(lines[i + 1:j]))}</code></pre>", j + 1


def _read_image(lines, i, ctx):
    m = _IMAGE_LINE.match(lines[i])
    return f'<p class="figure">{_img(m.group(1), m.group(2), ctx)}</p>', i + 1


def _img(alt: str, src: str, ctx: _Ctx) -> str:
    return f'<img src="{_esc(ctx.img_src(src))}" alt="{_esc(alt)}">'


def _read_paragraph(lines, i, ctx):
    parts, j = [lines[i].strip()], i + 1
    while j < len(lines) and not _starts_block(lines, j):
        parts.append(lines[j].strip())
        j += 1
    return f"<p>{_inline(' '.join(parts), ctx)}</p>", j


# ---------------------------------------------------------------- lists

def _list_marker(line: str):
    """('ul' | 'ol', number or None, item text) for a list item line, else None."""
    m = _BULLET.match(line)
    if m:
        return "ul", None, m.group(2)
    m = _NUMBER.match(line)
    return ("ol", int(m.group(1)), m.group(2)) if m else None


def _read_list(lines, i, ctx):
    """Consecutive items of one kind; lines indented 2+ spaces belong to the previous item."""
    kind, start, _ = _list_marker(lines[i])
    items, j = [], i
    while j < len(lines):
        marker = _list_marker(lines[j])
        if marker and marker[0] == kind:
            items.append([marker[2]])
        elif lines[j].startswith(("  ", "\t")) and lines[j].strip():
            items[-1].append(lines[j])
        else:
            break
        j += 1
    attr = f' start="{start}"' if kind == "ol" and start != 1 else ""
    lis = "\n".join(f"<li>{_list_item(item, ctx)}</li>" for item in items)
    return f"<{kind}{attr}>\n{lis}\n</{kind}>", j


def _list_item(item: list[str], ctx: _Ctx) -> str:
    """The item's own text (first line + plain continuations), then any nested blocks, rendered."""
    text, k = [item[0].strip()], 1
    while k < len(item) and not _list_marker(item[k].strip()):
        text.append(item[k].strip())
        k += 1
    rest = item[k:]
    if not rest:
        return _inline(" ".join(text), ctx)
    indent = min(len(x) - len(x.lstrip()) for x in rest)
    nested = "\n".join(_blocks([x[indent:] for x in rest], ctx))
    return f"{_inline(' '.join(text), ctx)}\n{nested}"


# ---------------------------------------------------------------- tables

def _cells(line: str) -> list[str]:
    """Split a pipe row on unescaped `|` (outer pipes optional); `\\|` becomes a literal `|`."""
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return [c.strip().replace("\\|", "|") for c in _PIPE_SPLIT.split(s)]


def _is_sep(line: str) -> bool:
    if "-" not in line:
        return False
    s = line.strip()
    if "|" not in s and not _SEP_CELL.match(s):
        return False
    return all(_SEP_CELL.match(c) for c in _cells(line))


def _is_table_start(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if "|" not in line or _is_sep(line) and not line.startswith("|"):
        return False
    return line.startswith("|") or (i + 1 < len(lines) and _is_sep(lines[i + 1]))


def _read_table(lines, i, ctx):
    """Header row (when a separator follows it), body rows; every separator row is skipped."""
    j = i
    while j < len(lines) and lines[j].strip() and "|" in lines[j]:
        j += 1
    rows = lines[i:j]
    has_head = len(rows) > 1 and _is_sep(rows[1]) and not _is_sep(rows[0])
    seps = [r for r in rows if _is_sep(r)]
    aligns = [_align(c) for c in _cells(seps[0])] if seps else []
    data = [r for r in rows if not _is_sep(r)]
    out = ["<table>"]
    if has_head:
        out.append(f"<thead>\n{_row(data.pop(0), 'th', aligns, ctx)}\n</thead>")
    if data:
        out.append("<tbody>\n" + "\n".join(_row(r, "td", aligns, ctx) for r in data) + "\n</tbody>")
    out.append("</table>")
    return "\n".join(out), j


def _align(cell: str) -> str:
    c = cell.strip()
    if c.startswith(":") and c.endswith(":"):
        return "center"
    return "right" if c.endswith(":") else ("left" if c.startswith(":") else "")


def _row(line: str, tag: str, aligns: list[str], ctx: _Ctx) -> str:
    out = []
    for k, cell in enumerate(_cells(line)):
        a = aligns[k] if k < len(aligns) else ""
        style = f' style="text-align:{a}"' if a else ""
        out.append(f"<{tag}{style}>{_inline(cell, ctx)}</{tag}>")
    return "<tr>" + "".join(out) + "</tr>"


# ---------------------------------------------------------------- inline

def _inline(text: str, ctx: _Ctx) -> str:
    """Inline Markdown -> HTML: code spans, escapes and links are set aside first, then the rest is
    escaped and emphasis applied, then the set-aside pieces are put back."""
    store: list[str] = []

    def keep(fragment: str) -> str:
        store.append(fragment)
        return f"\x00{len(store) - 1}\x00"

    s = _CODE_SPAN.sub(lambda m: keep(f"<code>{_esc(_trim_code(m.group(2)))}</code>"), text)
    s = _BACKSLASH.sub(lambda m: keep(_esc(m.group(1))), s)
    s = _LINK.sub(lambda m: keep(_link(m, ctx)), s)
    return _restore(_emphasis(_esc(s)), store)


def _trim_code(code: str) -> str:
    return code[1:-1] if len(code) > 2 and code[0] == code[-1] == " " and code.strip() else code


def _link(m: re.Match, ctx: _Ctx) -> str:
    bang, text, url = m.groups()
    if bang:
        return _img(text, url, ctx)
    return f'<a href="{_esc(url)}">{_emphasis(_esc(text))}</a>'


def _emphasis(s: str) -> str:
    """Bold, then `*em*`, then word-boundary `_em_`, on already-escaped text."""
    s = _STRONG.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", s)
    s = _EM_STAR.sub(r"<em>\1</em>", s)
    return _EM_UNDER.sub(r"<em>\1</em>", s)


def _restore(s: str, store: list[str]) -> str:
    """Put set-aside fragments back (a fragment may itself hold slots, e.g. code inside link text)."""
    for _ in range(len(store) + 1):
        if "\x00" not in s:
            break
        s = _SLOT.sub(lambda m: store[int(m.group(1))], s)
    return s
