"""YAML composition with limits, for files a user (or an attacker) hands us.

PyYAML's composer recurses once per nesting level (deeply nested ``[`` ends in ``RecursionError``)
and leaves aliases shared, so a 15 KB file whose anchors refer to anchors can stand for a million
rules that the reader then walks one by one. This composer builds the same node graph from the
parser's event stream without recursion, refuses nesting deeper than :data:`MAX_DEPTH` and a graph
that expands to more than :data:`MAX_NODES` nodes, and yields its progress so a caller can stop it.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from freezegui.core import collector
from freezegui.core.errors import RuleError
from freezegui.core.file_kinds import special_file_problem

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 1_000_000
PROGRESS_EVERY = 4096  # events between two progress reports

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when installed: ~10x faster


def limit_text() -> str:
    return f"{MAX_BYTES // (1024 * 1024)} MB"


def read_limited(path: str | os.PathLike[str], what: str) -> str:
    """A file's UTF-8 text, refusing one over :data:`MAX_BYTES` and anything but a regular file
    (a FIFO, ``/dev/zero``) with a RuleError."""
    p = Path(path)
    problem = special_file_problem(p, what, folder_ok=True)  # a FIFO would block the open for good
    if problem is not None:
        raise RuleError(f"this {problem}", source=str(p))
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RuleError(f"no such {what}", source=str(p)) from None
    except IsADirectoryError:
        raise RuleError(f"this is a folder, not a {what}", source=str(p)) from None
    except OSError as exc:
        raise RuleError(f"cannot read the {what}: {exc.strerror or exc}", source=str(p)) from None
    if len(data) > MAX_BYTES:
        raise RuleError(f"the {what} is larger than {limit_text()}, the most freezegui reads", source=str(p))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(
            f"the {what} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})", source=str(p)
        ) from None


@dataclass(slots=True)
class _Open:
    """A collection whose end event has not come yet."""

    node: yaml.CollectionNode
    anchor: str | None
    weight: int = 1
    key: yaml.Node | None = None
    children: list[Any] = field(default_factory=list)


class _Composer:
    """Builds the node graph event by event (see the module docstring)."""

    def __init__(self, source: str | None, max_items: int | None) -> None:
        self.source = source
        self.max_items = max_items
        self.resolver: Any = yaml.SafeLoader("")
        self.tags: dict[tuple[str, bool], str] = {}  # plain scalars repeat: resolve each text once
        self.collection_tags: dict[tuple[type, bool], str] = {}
        self.anchors: dict[str, tuple[yaml.Node, int]] = {}
        self.stack: list[_Open] = []
        self.root: yaml.Node | None = None
        self.documents = 0

    def feed(self, event: Any) -> None:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            self.add(self.scalar(event), 1, event)
        elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
            self.open(event, yaml.SequenceNode if kind is yaml.SequenceStartEvent else yaml.MappingNode)
        elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
            done = self.stack.pop()
            done.node.end_mark = event.end_mark
            done.node.value = done.children
            if done.anchor is not None:
                self.anchors[done.anchor] = (done.node, done.weight)
            self.add(done.node, done.weight, event)
        elif kind is yaml.AliasEvent:
            if event.anchor not in self.anchors:
                looped = event.anchor in {o.anchor for o in self.stack}
                problem = "refers to itself" if looped else "is not defined"
                raise RuleError(f"the alias *{event.anchor} {problem}", source=self.source, line=_line(event))
            self.add(*self.anchors[event.anchor], event)
        elif kind is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise RuleError(
                    "expected one YAML document, found another", source=self.source, line=_line(event)
                )

    def scalar(self, event: Any) -> yaml.ScalarNode:
        tag = event.tag
        if tag is None or tag == "!":
            key = (event.value, event.implicit)
            tag = self.tags.get(key)
            if tag is None and _is_decimal(event.value) and event.implicit[0]:
                tag = _INT  # a plain 0 or 1-9 then digits: what the resolver's int pattern says
            elif tag is None:
                tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
                if len(self.tags) < 200_000:
                    self.tags[key] = tag
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, 1)
        return node

    def open(self, event: Any, kind: type[yaml.CollectionNode]) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise RuleError(f"nested deeper than {MAX_DEPTH} levels", source=self.source, line=_line(event))
        tag = event.tag
        if tag is None or tag == "!":
            key = (kind, event.implicit)
            tag = self.collection_tags.get(key)
            if tag is None:
                tag = self.collection_tags[key] = self.resolver.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        self.stack.append(_Open(node, event.anchor))

    def add(self, child: yaml.Node, weight: int, event: Any) -> None:
        if not self.stack:
            self.root = child
            return
        parent = self.stack[-1]
        parent.weight += weight
        if parent.weight > MAX_NODES:
            raise RuleError(
                f"the YAML aliases expand to more than {MAX_NODES:,} values; write the rules out instead",
                source=self.source,
                line=_line(event),
            )
        if parent.key is not None:
            parent.children.append((parent.key, child))
            parent.key = None
        elif isinstance(parent.node, yaml.MappingNode):
            parent.key = child
        else:
            parent.children.append(child)
            if self.max_items is not None and len(parent.children) > self.max_items:
                raise RuleError(
                    f"more than {self.max_items:,} items in one list", source=self.source, line=_line(event)
                )


def compose_steps(
    text: str, *, source: str | None, max_items: int | None = None
) -> Generator[float, None, yaml.Node | None]:
    """Compose one YAML document, yielding the fraction of ``text`` read every few thousand events.

    Returns the root node (None for an empty stream). Every problem is a :class:`RuleError`;
    ``max_items`` refuses a list longer than that as soon as it is read.
    """
    if len(text) > MAX_BYTES:
        raise RuleError(f"the text is larger than {limit_text()}, the most freezegui reads", source=source)
    composer = _Composer(source, max_items)
    size = max(1, len(text))
    feed = composer.feed
    with collector.paused():  # until the end, an error, or close() (a dropped generator is closed)
        for count, event in enumerate(_events(text, source), start=1):
            feed(event)
            if count % PROGRESS_EVERY == 0:
                yield min(1.0, event.start_mark.index / size)
    return composer.root


def compose(text: str, *, source: str | None) -> yaml.Node | None:
    """:func:`compose_steps` run to the end."""
    gen = compose_steps(text, source=source)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def safe_load(text: str, *, source: str | None) -> Any:
    """``yaml.safe_load`` within the limits above (for the other tools' configs)."""
    node = compose(text, source=source)
    if node is None:
        return None
    constructor = yaml.constructor.SafeConstructor()
    try:
        return constructor.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(
            f"not valid YAML: {problem}", source=source, line=mark.line + 1 if mark is not None else None
        ) from None


_STR_TAG = "tag:yaml.org,2002:str"


def read_scalar(node: yaml.Node, source: str | None) -> Any:
    """The one reader of a single YAML value in a rule file: a string stays text, anything else is
    built by YAML's safe constructor; a mapping or list where one value belongs, or a value YAML
    cannot build (``2001-02-30``), is a :class:`RuleError` naming the line."""
    if not isinstance(node, yaml.ScalarNode):
        raise RuleError("expected a single value here", source=source, line=node_line(node))
    if node.tag == _STR_TAG:
        return node.value
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
        raise RuleError(f"bad value {node.value!r}: {exc}", source=source, line=node_line(node)) from None


def node_line(node: yaml.Node) -> int:
    """A node's 1-based line."""
    return int(node.start_mark.line) + 1


def _events(text: str, source: str | None) -> Iterator[Any]:
    loader = _Loader(text)
    try:
        while True:
            try:
                event = loader.get_event()
            except yaml.YAMLError as exc:
                raise _yaml_error(exc, source) from None
            if event is None:
                return
            yield event
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, source: str | None) -> RuleError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = str(getattr(exc, "context", None) or "")
    hint = (
        " (quote patterns that start with '*', e.g. \"**.bn*\")"
        if "'*'" in str(problem) or "alias" in str(problem) or "alias" in context
        else ""
    )
    return RuleError(f"not valid YAML: {problem}{hint}", source=source, line=line)


_INT = "tag:yaml.org,2002:int"


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit() and (text == "0" or text[0] != "0")


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1
