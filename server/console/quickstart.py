"""The console's Quickstart page comes from the README's "Quick start" section, so the steps live in one
place: `make docs` turns that section into blocks (paragraphs, commands, lists) in
static/docs/quickstart.json, and `make check-docs` (and tests/server/console/test_docs_files.py) fail
when the README changed and the file was not written again.

    python -m mlmp_server.console.quickstart README.md > server/console/static/docs/quickstart.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

SECTION = "## Quick start"


def section(readme: str, heading: str = SECTION) -> list[str]:
    """The lines of the section under `heading`, up to the next heading of any level."""
    lines = readme.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    body: list[str] = []
    fenced = False
    for line in lines[start + 1 :]:
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#{1,3} ", line):
            break
        body.append(line)
    return body


def blocks(lines: list[str]) -> list[dict[str, Any]]:
    """Markdown, the little the README's section uses: fenced code, `- ` lists, paragraphs."""
    out: list[dict[str, Any]] = []
    code: list[str] | None = None
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            text = " ".join(part.strip() for part in paragraph)
            if out and out[-1]["kind"] == "list" and paragraph[0].startswith("- "):
                out[-1]["items"].append(text[2:])
            elif paragraph[0].startswith("- "):
                out.append({"kind": "list", "items": [text[2:]]})
            else:
                out.append({"kind": "paragraph", "text": text})
            paragraph.clear()

    for line in lines:
        if line.startswith("```"):
            if code is None:
                flush()
                code = []
            else:
                out.append({"kind": "code", "text": "\n".join(code)})
                code = None
        elif code is not None:
            code.append(line)
        elif not line.strip():
            flush()
        elif line.startswith("- "):
            flush()
            paragraph.append(line)
        else:
            paragraph.append(line)
    flush()
    return out


def quickstart(readme: str) -> dict[str, Any]:
    return {"source": "README.md, " + SECTION.removeprefix("## "), "blocks": blocks(section(readme))}


def render(readme: str) -> str:
    return json.dumps(quickstart(readme), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md").read_text(encoding="utf-8")))
