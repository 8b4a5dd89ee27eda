"""core.markdown.to_html: the Markdown our reports write (CommonMark + pipe tables, markdown-it-py) -> one
self-contained HTML page."""
import base64
import re

from core.markdown import to_html


def body(md: str, **kw) -> str:
    page = to_html(md, "t", **kw)
    return page.split("<body>", 1)[1].split("</body>", 1)[0]


def test_page_shell_and_escaped_title():
    page = to_html("hello", 'Run <1> & "two"')
    assert page.startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in page
    assert "<title>Run &lt;1&gt; &amp; &quot;two&quot;</title>" in page
    assert "max-width: 1200px" in page and "border-collapse: collapse" in page
    assert "<p>hello</p>" in page


def test_headings_with_inline_formatting():
    out = body("# Top\n\n## Sub **bold**\n\n###### Six `c`\n\n####### seven")
    assert "<h1>Top</h1>" in out
    assert "<h2>Sub <strong>bold</strong></h2>" in out
    assert "<h6>Six <code>c</code></h6>" in out
    assert "<h7>" not in out and "<p>####### seven</p>" in out


def test_paragraph_lines_join_and_blank_line_splits():
    out = body("one\ntwo\n\nthree")
    assert "<p>one two</p>" in out and "<p>three</p>" in out


def test_table_header_body_bold_code_and_separator_not_data():
    md = "| name | value |\n|---|:---:|\n| **best** | `0.61` |\n| plain | 2 |\n"
    out = body(md)
    assert "<th>name</th>" in out
    assert '<th style="text-align:center">value</th>' in out
    assert "<td><strong>best</strong></td>" in out
    assert '<td style="text-align:center"><code>0.61</code></td>' in out
    assert out.count("<tr>") == 3
    assert "---" not in out
    assert out.index("<thead>") < out.index("<th>name</th>") < out.index("</thead>") < out.index("<tbody>")


def test_repeated_separator_row_is_never_data():
    out = body("| a | b |\n|---|---|\n| 1 | 2 |\n|---|---|\n| 3 | 4 |")
    assert out.count("<tr>") == 3
    assert "<td>---</td>" not in out and "-" not in re.sub(r"<[^>]+>", "", out)


def test_escaped_pipe_in_table_cell():
    out = body("| expr | n |\n|---|---|\n| a \\| b | `x \\| y` |")
    assert "<td>a | b</td>" in out
    assert "<td><code>x | y</code></td>" in out
    assert out.count("<td>") == 2 and "\\|" not in out


def test_underscores_inside_words_stay_literal():
    out = body("area_frac and plan_mixture_table and D_B, but _word_ and *star*")
    assert "area_frac" in out and "plan_mixture_table" in out and "D_B" in out
    assert "<em>word</em>" in out and "<em>star</em>" in out
    assert out.count("<em>") == 2


def test_html_in_text_is_escaped():
    out = body('Beware <script>alert("x")</script> & more')
    assert "<script>" not in out
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in out


def test_unicode_passes_through():
    out = body("± 0.3, ≥ 5, σ and D_B")
    assert "± 0.3, ≥ 5, σ and D_B" in out


def test_link():
    out = body("see [the docs](https://example.org/a?b=1&c=2) now")
    assert '<a href="https://example.org/a?b=1&amp;c=2">the docs</a>' in out


def test_image_embedded_when_bytes_given_else_relative_link():
    png = b"\x89PNG\r\n\x1a\nfake-bytes"
    md = "![chart](report_files/chart.png)\n![gone](report_files/missing.png)"
    out = body(md, images={"chart.png": png})
    b64 = base64.b64encode(png).decode()
    assert f'<img src="data:image/png;base64,{b64}" alt="chart">' in out
    assert '<img src="report_files/missing.png" alt="gone">' in out
    assert "report_files/chart.png" not in out


def test_image_dir_prefix_is_configurable():
    out = body("![x](figs/a.png)", images={"a.png": b"abc"}, image_dir="figs")
    assert "data:image/png;base64," + base64.b64encode(b"abc").decode() in out


def test_bullet_list_with_continuation():
    out = body("- first\n  still first\n- second **b**\n\nafter")
    assert "<ul>\n<li>first still first</li>\n<li>second <strong>b</strong></li>\n</ul>" in out
    assert "<p>after</p>" in out
    two = body("- dash\n* star")                    # CommonMark: another bullet marker starts another list
    assert two.count("<ul>") == 2 and "<li>star</li>" in two


def test_numbered_list():
    out = body("1. alpha\n2. beta `c`\n")
    assert "<ol>\n<li>alpha</li>\n<li>beta <code>c</code></li>\n</ol>" in out
    assert "<ul>" not in out


def test_fenced_code_is_verbatim_and_escaped():
    out = body("```python\nx = **x** <b> & _y_\n| a | b |\n```\n\nafter **b**")
    assert '<pre><code class="language-python">x = **x** &lt;b&gt; &amp; _y_\n| a | b |\n</code></pre>' in out
    assert "<p>after <strong>b</strong></p>" in out
    assert "<table>" not in out


def test_code_span_has_no_formatting_inside():
    out = body("run `**not bold** _nor em_ <x>` here")
    assert "<code>**not bold** _nor em_ &lt;x&gt;</code>" in out
    assert "<strong>" not in out and "<em>" not in out


def test_no_raw_markers_left_for_formatted_input():
    md = ("# **Title** `t`\n\nA **bold** and *em* and `code` line.\n\n"
          "- item **b** `c`\n\n| **h** | `c` |\n|---|---|\n| **x** | `y` |\n")
    out = body(md)
    assert "**" not in out
    assert "`" not in out
    assert out.count("<strong>") == 5 and out.count("<code>") == 5


def test_report_shapes_raw_html_escaped_and_stacked_tables():
    md = ("## Sets\n\nSee `sets/` <b>now</b>\n\n| set | D_B |\n|---|---:|\n| aligned | 0.12 |\n"
          "|---|---:|\n| baseline | 0.40 |\n\n![scatter](report_files/scatter.png)\n")
    out = body(md, images={"scatter.png": b"png"})
    assert "<b>" not in out and "&lt;b&gt;now&lt;/b&gt;" in out
    assert out.count("<tr>") == 3 and '<td style="text-align:right">0.40</td>' in out
    assert 'src="data:image/png;base64,' in out and 'alt="scatter"' in out
    figs = body("![a](report_files/a.png)\n![b](report_files/b.png)\n\ntext ![c](c.png) here")
    assert figs.count('<p class="figure"><img') == 2 and '<p>text <img src="c.png" alt="c"> here</p>' in figs
