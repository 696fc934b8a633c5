"""HttpRule path templates (google/api/http.proto): parsing, matching and specificity.

    Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;   Variable = "{" FieldPath [ "=" Segments ] "}" ;
    Verb     = ":" LITERAL ;

`{v}` means `{v=*}`; `**` may only be last; variables do not nest. A single-segment variable is
fully percent-decoded; a multi-segment one keeps `%2F` encoded (so its slashes stay unambiguous).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

LITERAL, WILD, DOUBLE_WILD = "literal", "*", "**"
_LITERAL_CHARS = re.compile(r"^[A-Za-z0-9._~!$&'()+,;=@-]+$")
_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Segment:
    kind: str  # LITERAL, WILD or DOUBLE_WILD
    text: str = ""  # the literal
    variable: str = ""  # field path this segment is (part of), if any


@dataclass(frozen=True)
class PathTemplate:
    source: str
    segments: tuple[Segment, ...]
    verb: str

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.variable for s in self.segments if s.variable))

    @property
    def specificity(self) -> tuple:
        """Literal beats `*` beats `**`, position by position; a verb beats none."""
        rank = {LITERAL: 2, WILD: 1, DOUBLE_WILD: 0}
        return (tuple(rank[s.kind] for s in self.segments), bool(self.verb))

    @property
    def shape(self) -> tuple:
        """Two templates with one shape match exactly the same paths."""
        return (tuple((s.kind, s.text) for s in self.segments), self.verb)

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Variable values for a raw (still percent-encoded) path, or None."""
        path = raw_path
        if self.verb:
            if not path.endswith(":" + self.verb):
                return None
            path = path[: -len(self.verb) - 1]
        if not path.startswith("/"):
            return None
        parts = path[1:].split("/")
        captured: dict[str, list[str]] = {}
        index = 0
        for segment in self.segments:
            if segment.kind == DOUBLE_WILD:
                rest = parts[index:]
                if segment.variable:
                    captured.setdefault(segment.variable, []).extend(rest)
                index = len(parts)
                break
            if index >= len(parts):
                return None
            part = parts[index]
            if segment.kind == LITERAL:
                if unquote(part) != segment.text:
                    return None
            elif part == "":
                return None
            if segment.variable:
                captured.setdefault(segment.variable, []).append(part)
            index += 1
        if index != len(parts):
            return None
        values = {}
        for name, pieces in captured.items():
            if len(pieces) == 1:
                values[name] = unquote(pieces[0])
            else:  # multi-segment: decode all but the slashes
                values[name] = "/".join(_keep_slashes_encoded(piece) for piece in pieces)
        return values

    def openapi_path(self) -> str:
        out, seen = [], set()
        for segment in self.segments:
            if segment.variable:
                if segment.variable not in seen:
                    seen.add(segment.variable)
                    out.append("{" + segment.variable + "}")
            else:
                out.append(segment.text if segment.kind == LITERAL else segment.kind)
        return "/" + "/".join(out) + (f":{self.verb}" if self.verb else "")


def _keep_slashes_encoded(piece: str) -> str:
    return unquote(piece.replace("%2F", "%252F").replace("%2f", "%252f"))


def parse_template(source: str) -> PathTemplate:
    if not source.startswith("/"):
        raise TemplateError(f"{source!r}: a template starts with '/'")
    body, verb = source[1:], ""
    # The verb is a ':' after the last '}' and the last '/'.
    last_colon = body.rfind(":")
    if last_colon > max(body.rfind("/"), body.rfind("}")):
        body, verb = body[:last_colon], body[last_colon + 1 :]
        if not _LITERAL_CHARS.match(verb):
            raise TemplateError(f"{source!r}: the verb {verb!r} is not a literal")
    segments: list[Segment] = []
    for token in _split_top_level(body, source):
        if token.startswith("{"):
            if not token.endswith("}"):
                raise TemplateError(f"{source!r}: unbalanced braces in {token!r}")
            inner = token[1:-1]
            name, has_pattern, pattern = inner.partition("=")
            if not _FIELD_PATH.match(name):
                raise TemplateError(f"{source!r}: {name!r} is not a field path")
            if any(s.variable == name for s in segments):
                raise TemplateError(f"{source!r}: variable {name!r} appears twice")
            sub = pattern.split("/") if has_pattern else ["*"]
            if "{" in pattern or "}" in pattern:
                raise TemplateError(f"{source!r}: variables do not nest")
            for part in sub:
                segments.append(_plain_segment(part, source, variable=name))
        else:
            if "{" in token or "}" in token:
                raise TemplateError(f"{source!r}: unbalanced braces in {token!r}")
            segments.append(_plain_segment(token, source))
    for position, segment in enumerate(segments):
        if segment.kind == DOUBLE_WILD and position != len(segments) - 1:
            raise TemplateError(f"{source!r}: '**' may only be the last segment")
    return PathTemplate(source, tuple(segments), verb)


def _plain_segment(text: str, source: str, variable: str = "") -> Segment:
    if text == "*":
        return Segment(WILD, variable=variable)
    if text == "**":
        return Segment(DOUBLE_WILD, variable=variable)
    if not text or not _LITERAL_CHARS.match(text):
        raise TemplateError(f"{source!r}: {text!r} is not a valid segment")
    return Segment(LITERAL, text=text, variable=variable)


def _split_top_level(body: str, source: str) -> list[str]:
    """Splits on '/' outside braces."""
    tokens: list[str] = []
    current: list[str] = []
    depth = 0
    for char in body:
        if char == "{":
            depth += 1
            if depth > 1:
                raise TemplateError(f"{source!r}: variables do not nest")
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError(f"{source!r}: unbalanced braces")
        if char == "/" and depth == 0:
            tokens.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise TemplateError(f"{source!r}: unbalanced braces")
    tokens.append("".join(current))
    return tokens
