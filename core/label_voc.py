"""Pascal VOC labels -> Converted (core/label_import.py writes it).

Pascal VOC. SRC holds Annotations/*.xml; each XML's image is JPEGImages/<filename>, else <folder>/<filename>
(relative to SRC). Box rule (detectron2's `load_voc_instances`): VOC corners are 1-based inclusive pixel indices,
so COCO bbox = [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1] (xmin = 1, xmax = W covers the image).
Boxes may overrun <size> by 1 px (then clipped). <difficult> objects are kept, with "voc_difficult": 1 on the
annotation (iscrowd stays 0). Classes: the sorted names found, or `--names` (fixes the order; a name not in it
is an error). Refused, as "XML: object K: ...": XML that does not parse (or declares a DOCTYPE/ENTITY:
defusedxml is not a dependency, and annotation tools write none), a missing tag, a non-number, a box outside
<size>, a <size> unlike the image file, a missing image. Images with no XML are not imported (the summary
counts them).
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

from core.coco import BOX_TOLERANCE_PX
from core.errors import UserError
from core.label_common import Converted, Labelled, _header, _image_files, build_coco


def _parse_xml(path: Path):
    import xml.etree.ElementTree as ET
    data = path.read_bytes()
    if re.search(rb"<!\s*(DOCTYPE|ENTITY)", data, re.IGNORECASE):
        raise UserError(f"{path}: declares a DOCTYPE/ENTITY; VOC annotations need none (refused for safety)")
    try:
        tree = ET.fromstring(data)
    except ET.ParseError as e:
        raise UserError(f"{path}: not valid XML ({e})") from None
    if tree.tag != "annotation":
        raise UserError(f"{path}: root tag <{tree.tag}>, expected <annotation> (Pascal VOC)")
    return tree


def _text(el, tag: str, where: str, required: bool = True) -> str | None:
    node = el.find(tag)
    if node is None or node.text is None or not node.text.strip():
        if required:
            raise UserError(f"{where}: tag {tag!r}: missing or empty")
        return None
    return node.text.strip()


def _number(el, tag: str, where: str) -> float:
    text = _text(el, tag, where)
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise UserError(f"{where}: tag {tag!r}: {text!r} is not a finite number")
    return v


def _voc_image(xml: Path, tree, src: Path) -> Path:
    fn = _text(tree, "filename", str(xml))
    if os.path.isabs(fn) or ".." in Path(fn).parts:
        raise UserError(f"{xml}: tag 'filename': {fn!r} must be a plain name (no absolute path, no '..')")
    folder = _text(tree, "folder", str(xml), required=False)
    cands = [src / "JPEGImages" / fn]
    if folder and not os.path.isabs(folder) and ".." not in Path(folder).parts:
        cands.append(src / folder / fn)
    for c in cands:
        if c.is_file():
            return c
    raise UserError(f"{xml}: tag 'filename': image {fn!r} not found (looked for {', '.join(map(str, cands))})")


def _voc_size(xml: Path, tree, img: Path) -> tuple[int, int]:
    """The image file's size, checked against <size> (absent, or 0 x 0 as some tools write: unchecked)."""
    w, h, orient = _header(img, str(xml))
    size = tree.find("size")
    if size is not None:
        sw, sh = _number(size, "width", f"{xml}: size"), _number(size, "height", f"{xml}: size")
        if (sw, sh) != (0, 0) and (sw, sh) != (w, h):
            rot = f" (the file has EXIF orientation {orient})" if orient != 1 else ""
            raise UserError(f"{xml}: tag 'size': {sw:g}x{sh:g} but the image file {img} is {w}x{h}{rot}")
    return w, h


def _voc_object(obj, where: str, w: int, h: int) -> tuple[str, list[float], dict]:
    """(name, COCO bbox px, extra fields) of one <object>, by detectron2's rule (module docstring)."""
    name = _text(obj, "name", where)
    bb = obj.find("bndbox")
    if bb is None:
        raise UserError(f"{where}: tag 'bndbox': missing")
    xmin, ymin, xmax, ymax = (_number(bb, t, f"{where}: bndbox") for t in ("xmin", "ymin", "xmax", "ymax"))
    x0, y0, x1, y1 = xmin - 1, ymin - 1, xmax, ymax
    if x1 <= x0 or y1 <= y0:
        raise UserError(f"{where}: bndbox {xmin:g} {ymin:g} {xmax:g} {ymax:g}: max below min")
    t = BOX_TOLERANCE_PX
    if x0 < -t or y0 < -t or x1 > w + t or y1 > h + t:
        raise UserError(f"{where}: bndbox {xmin:g} {ymin:g} {xmax:g} {ymax:g} (1-based) lies outside the "
                        f"{w}x{h} image")
    x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
    diff = _text(obj, "difficult", where, required=False) or "0"
    if diff not in ("0", "1"):
        raise UserError(f"{where}: tag 'difficult': {diff!r}, expected 0 or 1")
    return name, [x0, y0, x1 - x0, y1 - y0], {"voc_difficult": int(diff)}


def _voc_file(xml: Path, src: Path) -> tuple[Path, int, int, list[tuple[str, list[float], dict]]]:
    tree = _parse_xml(xml)
    img = _voc_image(xml, tree, src)
    w, h = _voc_size(xml, tree, img)
    objs = []
    for k, obj in enumerate(tree.findall("object"), 1):
        objs.append(_voc_object(obj, f"{xml}: object {k}", w, h))
    return img, w, h, objs


def convert_voc(src: str | os.PathLike, names: list[str] | None = None) -> Converted:
    src = Path(os.path.abspath(src))
    ann_dir = src / "Annotations"
    xmls = sorted(ann_dir.glob("*.xml")) if ann_dir.is_dir() else []
    if not xmls:
        raise UserError(f"{src}: no Annotations/*.xml (Pascal VOC: Annotations/ + JPEGImages/)")
    parsed, seen = [], {}
    for xml in xmls:
        img, w, h, objs = _voc_file(xml, src)
        key = os.path.realpath(img)
        if key in seen:
            raise UserError(f"{xml}: image {img} is also labelled by {seen[key]}")
        seen[key] = xml
        parsed.append((xml, Path(os.path.abspath(img)), w, h, objs))
    found = sorted({n for *_, objs in parsed for n, _, _ in objs})
    order = names if names is not None else found
    index = {n: i for i, n in enumerate(order)}
    items = []
    for xml, img, w, h, objs in parsed:
        for k, (n, _, _) in enumerate(objs, 1):
            if n not in index:
                raise UserError(f"{xml}: object {k}: class {n!r} not in --names ({', '.join(order)})")
        items.append(Labelled(img, w, h, [(index[n], box, extra) for n, box, extra in objs]))
    coco, root = build_coco(items, order, {"imported_from": "voc", "source": str(src)})
    scanned = [ann_dir] + sorted({it.path.parent for it in items})
    jpeg = src / "JPEGImages"
    extra = len({os.path.realpath(p) for p in _image_files(jpeg)} - set(seen)) if jpeg.is_dir() else 0
    notes = [f"{extra} image(s) in {jpeg} have no XML and were not imported"] if extra else []
    return Converted("voc", src, list(order), root, coco, scanned, notes)


# --------------------------------------------------------------------------------------------------- writing DIR
