"""The contracts' comments, by full name (`marketplace.v1.CatalogService.ListCatalog`,
`marketplace.v1.ListCatalogRequest.page_size`), for the OpenAPI document and the console's docs.

Descriptors loaded from the generated `_pb2` modules carry no comments; `make protos` also writes
the FileDescriptorSet with protoc's source info (`--include_source_info`) next to them, committed
and checked for drift by `make check-protos` like the rest of generated/."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources

from google.protobuf import descriptor_pb2

SOURCE_INFO = "source_info.binpb"

# Field numbers of the repeated fields a SourceCodeInfo path walks through (descriptor.proto).
_FILE_MESSAGES, _FILE_ENUMS, _FILE_SERVICES = 4, 5, 6
_MESSAGE_FIELDS, _MESSAGE_NESTED, _MESSAGE_ENUMS = 2, 3, 4
_ENUM_VALUES = 2
_SERVICE_METHODS = 2


def clean(comment: str) -> str:
    """A comment as prose: protoc keeps the space after `//` and the line breaks; paragraphs
    (blank lines) stay, lines of one paragraph join, list items (`- `) keep their own line."""
    lines = [line[1:] if line.startswith(" ") else line for line in comment.strip("\n").split("\n")]
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if paragraphs[-1]:
                paragraphs.append([])
        elif stripped.startswith("- ") and paragraphs[-1]:
            paragraphs[-1].append("\n" + stripped)
        else:
            paragraphs[-1].append(stripped)
    return "\n\n".join(" ".join(words).replace(" \n", "\n") for words in paragraphs if words).strip()


def comments_of(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> dict[str, str]:
    """Full name → the leading comment (or, for want of one, the trailing comment) of every
    service, method, message, field, enum and enum value declared in `files`."""
    found: dict[str, str] = {}
    for file in files:
        names: dict[tuple[int, ...], str] = {}
        prefix = f"{file.package}." if file.package else ""
        for i, service in enumerate(file.service):
            names[(_FILE_SERVICES, i)] = prefix + service.name
            for j, method in enumerate(service.method):
                names[(_FILE_SERVICES, i, _SERVICE_METHODS, j)] = f"{prefix}{service.name}.{method.name}"
        for i, enum in enumerate(file.enum_type):
            _enum(names, (_FILE_ENUMS, i), prefix + enum.name, enum)
        for i, message in enumerate(file.message_type):
            _message(names, (_FILE_MESSAGES, i), prefix + message.name, message)
        for location in file.source_code_info.location:
            name = names.get(tuple(location.path))
            text = location.leading_comments or location.trailing_comments
            if name is not None and text.strip():
                found[name] = clean(text)
    return found


def _message(
    names: dict[tuple[int, ...], str], path: tuple[int, ...], name: str, message: descriptor_pb2.DescriptorProto
) -> None:
    names[path] = name
    for i, field in enumerate(message.field):
        names[(*path, _MESSAGE_FIELDS, i)] = f"{name}.{field.name}"
    for i, nested in enumerate(message.nested_type):
        _message(names, (*path, _MESSAGE_NESTED, i), f"{name}.{nested.name}", nested)
    for i, enum in enumerate(message.enum_type):
        _enum(names, (*path, _MESSAGE_ENUMS, i), f"{name}.{enum.name}", enum)


def _enum(
    names: dict[tuple[int, ...], str], path: tuple[int, ...], name: str, enum: descriptor_pb2.EnumDescriptorProto
) -> None:
    names[path] = name
    scope = name.rsplit(".", 1)[0]  # enum values are siblings of their enum, as in C++
    for i, value in enumerate(enum.value):
        names[(*path, _ENUM_VALUES, i)] = f"{scope}.{value.name}"


@cache
def contract_comments() -> Mapping[str, str]:
    """The comments of marketplace.v1's contracts, read once from the generated source info."""
    data = resources.files("mlmp_marketplace.v1").joinpath(SOURCE_INFO).read_bytes()
    return comments_of(descriptor_pb2.FileDescriptorSet.FromString(data).file)


def summary(description: str) -> str:
    """The first sentence of a description (up to the first `. ` or the paragraph's end)."""
    paragraph = description.split("\n", 1)[0].strip()
    end = paragraph.find(". ")
    first = paragraph if end < 0 else paragraph[: end + 1]
    return first.rstrip(":")
