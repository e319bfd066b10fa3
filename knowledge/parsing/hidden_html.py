"""Text an HTML page hides with CSS, found so that it never becomes a passage.

A page can carry instructions for the model that a person reading it never sees: an element
with `display:none`, `visibility:hidden`, `font-size:0`, `opacity:0`, the `hidden`
attribute, text coloured like its background, or pushed off-screen and `aria-hidden`. Such
elements are replaced by an empty marker that records how many characters were removed, so
the citation can say so.

This reads inline `style` attributes and the page's own `<style>` rules whose selectors are
simple (`.note`, `#id`, `p.note`, `div`): it is not a CSS engine. Rules inside `@media`,
selectors with combinators or pseudo-classes, specificity and external stylesheets are not
considered; the cascade is rules in document order, then the inline style.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping

from lxml import etree

HIDDEN_MARK = "cadre-hidden-text"
"""Tag of the empty element left where hidden text was; its `chars` attribute counts it."""

Declarations = dict[str, str]

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_SIMPLE_SELECTOR = re.compile(r"^(?P<tag>[a-z][a-z0-9-]*|\*)?(?P<rest>(?:[.#][\w-]+)*)$", re.I)
_ZERO = re.compile(r"^[+-]?(0+\.?0*|\.0+)(px|em|rem|pt|%|vw|vh|ex|ch)?$")
_LENGTH = re.compile(r"^(-\d+(?:\.\d+)?)(px|em|rem|pt)?$")
_HEX = re.compile(r"^#([0-9a-f]{3}|[0-9a-f]{6})$")
_RGB = re.compile(r"^rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)(?:[\s,/]+([\d.]+%?))?\s*\)$")
_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0)}
# Only what decides visibility is kept from a rule; a rule declaring none of it is ignored.
_RELEVANT = frozenset(
    {"display", "visibility", "font-size", "opacity", "color", "background", "background-color",
     "position", "left", "top", "right", "bottom", "text-indent", "margin-left", "margin-top"}
)  # fmt: skip
_OFFSETS = ("left", "top", "right", "bottom", "text-indent", "margin-left", "margin-top")
_MAX_CSS = 256 * 1024
"""Characters of `<style>` text read at most: the work stays bounded whatever the page."""
_NEAR = 8
"""Colour channels this close count as the same colour (`#fefefe` on white)."""
_OFF_SCREEN_PX = 1000
Rgb = tuple[int, int, int]


def _declarations(text: str) -> Declarations:
    found: Declarations = {}
    for declaration in text.split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        value = " ".join(value.lower().replace("!important", "").split())
        if colon and value and name in _RELEVANT:
            found[name] = value
    return found


def _top_level_rules(css: str) -> Iterator[tuple[str, str]]:
    """(selector, body) of each rule outside any at-rule block."""
    depth, start, body_start, selector = 0, 0, 0, ""
    for brace in re.finditer(r"[{}]", css):
        if brace.group() == "{":
            if depth == 0:
                selector, body_start = css[start : brace.start()], brace.end()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                # `@import …;` statements before a rule are not part of its selector.
                selector = selector.rsplit(";", 1)[-1].strip()
                if not selector.startswith("@"):
                    yield selector, css[body_start : brace.start()]
                start = brace.end()


def _selected(selector: str, index: _Index) -> list[etree._Element] | None:
    """Elements a simple selector picks; `None` when the selector is not a simple one."""
    match = _SIMPLE_SELECTOR.match(selector)
    if match is None or not selector:
        return None
    tag = (match.group("tag") or "*").lower()
    parts = re.findall(r"[.#][\w-]+", match.group("rest"))
    classes = {p[1:] for p in parts if p[0] == "."}
    ids = {p[1:] for p in parts if p[0] == "#"}
    if ids:
        candidates = index.by_id.get(next(iter(ids)), [])
    elif classes:
        candidates = index.by_class.get(next(iter(classes)), [])
    else:
        candidates = index.all if tag == "*" else index.by_tag.get(tag, [])
    return [
        element
        for element in candidates
        if (tag == "*" or element.tag == tag)
        and classes <= set((element.get("class") or "").split())
        and all(element.get("id") == ident for ident in ids)
    ]


class _Index:
    """The page's elements by tag, class and id, built in one pass."""

    def __init__(self, root: etree._Element) -> None:
        self.all: list[etree._Element] = []
        self.by_tag: dict[str, list[etree._Element]] = {}
        self.by_class: dict[str, list[etree._Element]] = {}
        self.by_id: dict[str, list[etree._Element]] = {}
        for element in root.iter(etree.Element):
            self.all.append(element)
            self.by_tag.setdefault(str(element.tag), []).append(element)
            for word in (element.get("class") or "").split():
                self.by_class.setdefault(word, []).append(element)
            if element.get("id"):
                self.by_id.setdefault(str(element.get("id")), []).append(element)


class _Styles:
    """Each element's declarations that matter here: `<style>` rules, then inline style."""

    def __init__(self, root: etree._Element) -> None:
        self._ruled: dict[etree._Element, Declarations] = {}
        self._cache: dict[etree._Element, Declarations] = {}
        # A background we could not place: text colour alone then proves nothing.
        self.backgrounds_known = not root.xpath("//link[contains(@rel, 'stylesheet')]")
        css = _COMMENT.sub("", "\n".join(s.text or "" for s in root.iter("style"))[:_MAX_CSS])
        index: _Index | None = None
        for selector_list, body in _top_level_rules(css):
            declared = _declarations(body)
            if not declared:
                continue
            index = index or _Index(root)
            for selector in selector_list.split(","):
                selected = _selected(selector.strip(), index)
                if selected is None:
                    if "background" in declared or "background-color" in declared:
                        self.backgrounds_known = False
                    continue
                for element in selected:
                    self._ruled.setdefault(element, {}).update(declared)

    def of(self, element: etree._Element) -> Declarations:
        """What the page declares for `element` (rules in order, the inline style last)."""
        found = self._cache.get(element)
        if found is None:
            found = {**self._ruled.get(element, {}), **_declarations(element.get("style") or "")}
            self._cache[element] = found
        return found


def _rgb(value: str) -> Rgb | None:
    """A colour as (r, g, b); `None` for what this does not read (names, hsl, variables)."""
    value = value.strip()
    if value in _NAMED:
        return _NAMED[value]
    hexed = _HEX.match(value)
    if hexed:
        digits = hexed.group(1)
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    rgb = _RGB.match(value)
    if rgb:
        return (int(rgb.group(1)), int(rgb.group(2)), int(rgb.group(3)))
    return None


def _transparent(value: str) -> bool:
    if value == "transparent":
        return True
    rgb = _RGB.match(value)
    return bool(rgb and rgb.group(4) is not None and _ZERO.match(rgb.group(4)))


def _background(element: etree._Element, styles: _Styles) -> Rgb | None:
    """The nearest declared background colour at `element`, white by default."""
    for node in (element, *element.iterancestors()):
        declared = styles.of(node)
        for value in (declared.get("background-color"), declared.get("background")):
            if value:
                for word in value.split():
                    colour = _rgb(word)
                    if colour is not None:
                        return colour
                if not _transparent(value):
                    return None  # an image or a gradient: the colour cannot be judged
        if node.get("bgcolor"):
            return _rgb(str(node.get("bgcolor")).lower())
    return (255, 255, 255) if styles.backgrounds_known else None


def _off_screen(declared: Mapping[str, str]) -> bool:
    for name in _OFFSETS:
        length = _LENGTH.match(declared.get(name, ""))
        if length:
            size = -float(length.group(1))
            unit = length.group(2) or "px"
            if size >= (_OFF_SCREEN_PX if unit in ("px", "pt") else _OFF_SCREEN_PX / 16):
                return True
    return False


def _is_hidden(element: etree._Element, styles: _Styles) -> bool:
    """Whether a person looking at the page cannot see `element`'s text."""
    if element.get("hidden") is not None:
        return True
    declared = styles.of(element)
    if declared.get("display") == "none" or declared.get("visibility") in ("hidden", "collapse"):
        return True
    if _ZERO.match(declared.get("font-size", "x")) or _ZERO.match(declared.get("opacity", "x")):
        return True
    if (element.get("aria-hidden") or "").strip().lower() == "true" and _off_screen(declared):
        return True
    colour = declared.get("color") or (element.get("color") if element.tag == "font" else None)
    if colour:
        colour = str(colour).lower()
        if _transparent(colour):
            return True
        text, background = _rgb(colour), _background(element, styles)
        if text is not None and background is not None:
            return max(abs(a - b) for a, b in zip(text, background, strict=True)) <= _NEAR
    return False


def drop_hidden(root: etree._Element, skipped: Collection[str] = ()) -> None:
    """Replace every element of `root` that CSS hides with an empty `HIDDEN_MARK` element.

    Args:
        root: The parsed page, changed in place.
        skipped: Tags whose content is never read anyway (`script`, `head`…): not searched.
    """
    styles = _Styles(root)
    hidden: list[etree._Element] = []
    walker = etree.iterwalk(root, events=("start",))
    for _, element in walker:
        if not isinstance(element.tag, str) or element.tag in skipped:
            walker.skip_subtree()
        elif element is not root and _is_hidden(element, styles):
            hidden.append(element)
            walker.skip_subtree()
    for element in hidden:
        parent = element.getparent()
        if parent is None:
            continue
        chars = len(" ".join("".join(element.itertext()).split()))
        mark = etree.Element(HIDDEN_MARK, chars=str(chars))
        mark.tail = element.tail
        parent.replace(element, mark)


def hidden_inside(element: etree._Element) -> int:
    """Characters of hidden text removed within `element` (see `drop_hidden`)."""
    return sum(int(mark.get("chars") or 0) for mark in element.iter(HIDDEN_MARK))
