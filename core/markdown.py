"""Markdown -> one self-contained HTML page, by markdown-it-py (CommonMark plus GFM pipe tables).

to_html(md_text, title, images=None, image_dir="report_files") -> str: a UTF-8 page (`<!doctype html>`,
`<title>` = title, escaped) with a small inline stylesheet. The body is CommonMark as markdown-it-py renders it
(the `commonmark` preset with the `table` rule), with these settings, which are the contract:
  - raw HTML is escaped, never passed through (`html: False`); bare URLs are not auto-linked;
  - a line break inside a paragraph or list item is a space (the reports wrap long lines);
  - `![alt](report_files/NAME.png)`: when `images` holds NAME.png (the key is the path with the
    `image_dir + "/"` prefix removed) the image is embedded as a base64 data: URI, else the relative path is
    kept as `src`; a paragraph of images only (one per line) becomes one `<p class="figure">` per image;
  - a table row made only of dashes / colons (`|---|---|`) is a separator wherever it appears, never a data row
    (the reports stack tables); `\\|` in a cell is a literal `|`, also inside a code span; the separator's colons
    set the column's `text-align`.
Where CommonMark differs from the hand-written subset this module replaced: bullets with another marker
(`-` then `*`) start a new list, a line indented by 4 spaces after a blank line is a code block, a line of
`---` under a paragraph line makes it a heading, a line right after a table row (no blank line between) is
another row, and fenced code keeps its final newline.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import re
from urllib.parse import unquote

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

_SEP_CELL = re.compile(r"^\s*:?-+:?\s*$")


def to_html(md_text: str, title: str, images: dict[str, bytes] | None = None,
            image_dir: str = "report_files") -> str:
    """Render `md_text` (module docstring) as one self-contained HTML page."""
    md = _parser()
    tokens = _figures(_drop_separator_rows(md.parse(md_text)))
    env = {"img_src": _ImageSource(images or {}, image_dir)}
    body = md.renderer.render(tokens, md.options, env).rstrip("\n")
    return ("<!doctype html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title, quote=True)}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _parser():
    from markdown_it import MarkdownIt
    md = MarkdownIt("commonmark", {"html": False, "xhtmlOut": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.add_render_rule("softbreak", lambda self, tokens, idx, options, env: " ")
    md.add_render_rule("image", _render_image)
    return md


def _render_image(self, tokens, idx, options, env):
    """The default image rule, with `src` swapped for its data: URI when the bytes were given."""
    tok = tokens[idx]
    tok.attrSet("src", env["img_src"](str(tok.attrGet("src") or "")))
    return self.image(tokens, idx, options, env)


class _ImageSource:
    """src -> a data: URI when the image's bytes were given (keyed without the `image_dir/` prefix), else src."""

    def __init__(self, images: dict[str, bytes], image_dir: str):
        self.images = images
        self.prefix = image_dir.rstrip("/") + "/" if image_dir else ""

    def __call__(self, src: str) -> str:
        path = unquote(src)
        key = path[len(self.prefix):] if self.prefix and path.startswith(self.prefix) else path
        data = self.images.get(key)
        if data is None:
            return src
        mime = mimetypes.guess_type(key)[0] or "image/png"
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _drop_separator_rows(tokens: list) -> list:
    """The tokens without the table rows whose every cell is a separator (`---`, `:-:`, ...)."""
    out, i = [], 0
    while i < len(tokens):
        if tokens[i].type == "tr_open":
            j = next(k for k in range(i, len(tokens)) if tokens[k].type == "tr_close")
            cells = [t.content for t in tokens[i:j] if t.type == "inline"]
            if cells and all(_SEP_CELL.match(c) for c in cells):
                i = j + 1
                continue
        out.append(tokens[i])
        i += 1
    return out


def _figures(tokens: list) -> list:
    """Each paragraph made only of images (and the line breaks between them) -> one figure paragraph per image."""
    from markdown_it.token import Token
    out, i = [], 0
    while i < len(tokens):
        kids = tokens[i + 1].children if tokens[i].type == "paragraph_open" and i + 1 < len(tokens) else None
        imgs = [k for k in kids or [] if k.type == "image"]
        if not imgs or any(k.type not in ("image", "softbreak") for k in kids):
            out.append(tokens[i])
            i += 1
            continue
        for img in imgs:
            out += [Token("paragraph_open", "p", 1, attrs={"class": "figure"}, block=True),
                    Token("inline", "", 0, children=[img], content=img.content),
                    Token("paragraph_close", "p", -1, block=True)]
        i += 3
    return out
