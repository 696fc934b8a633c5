"""`GET /docs`: the OpenAPI document rendered as one self-contained HTML page (no scripts, no CDN):
each operation with its description (the RPC's proto comment and who may call it). The console's
API reference (/marketplace/docs/api) is the richer page, with a form to try each call."""

from __future__ import annotations

import html
import json
from typing import Any


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#{html.escape(name)}">{html.escape(name)}</a>'
    if schema.get("type") == "array":
        return f"array of {_schema_text(schema.get('items', {}))}"
    if "enum" in schema:
        return "one of " + ", ".join(f"<code>{html.escape(v)}</code>" for v in schema["enum"])
    text = str(schema.get("type", "any"))
    return html.escape(text + (f" ({schema['format']})" if "format" in schema else ""))


def render_docs(document: dict[str, Any]) -> str:
    title = html.escape(document["info"]["title"])
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{title}</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "code,pre{background:#f4f4f4;padding:0 .2em}h3{margin-top:2rem}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}"
        ".m{font-weight:bold;text-transform:uppercase}</style></head><body>",
        f"<h1>{title} <small>{html.escape(document['info']['version'])}</small></h1>",
        "<p>Send <code>Authorization: Bearer &lt;token&gt;</code>. Errors are "
        "<code>{code, message, details}</code>. The machine-readable document is "
        "<a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, operations in document["paths"].items():
        for verb, operation in operations.items():
            auth = "public" if operation.get("security") == [] else "bearer token"
            parts.append(f"<h3><span class='m'>{verb}</span> <code>{html.escape(path)}</code></h3>")
            parts.append(f"<p><strong>{html.escape(operation['summary'])}</strong> · {auth}</p>")
            for paragraph in operation.get("description", "").split("\n\n"):
                if paragraph:  # the proto comment, then who may call (x-mp-access in words)
                    parts.append(f"<p>{html.escape(paragraph).replace(chr(10), '<br>')}</p>")
            if operation.get("parameters"):
                rows = "".join(
                    f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                    f"<td>{_schema_text(p['schema'])}</td></tr>"
                    for p in operation["parameters"]
                )
                parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th></tr>{rows}</table>")
            if "requestBody" in operation:
                media, content = next(iter(operation["requestBody"]["content"].items()))
                parts.append(f"<p>Body ({html.escape(media)}): {_schema_text(content['schema'])}</p>")
            media, content = next(iter(operation["responses"]["200"]["content"].items()))
            parts.append(f"<p>Returns ({html.escape(media)}): {_schema_text(content['schema'])}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='{html.escape(name)}'>{html.escape(name)}</h3>")
        properties = schema.get("properties")
        if properties:
            rows = "".join(
                f"<tr><td><code>{html.escape(field)}</code></td><td>{_schema_text(sub)}</td></tr>"
                for field, sub in properties.items()
            )
            parts.append(f"<table>{rows}</table>")
        else:
            parts.append(f"<pre>{html.escape(json.dumps(schema))}</pre>")
    parts.append("</body></html>")
    return "".join(parts)
