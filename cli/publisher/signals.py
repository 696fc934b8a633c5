"""Signals as a model hands them to the publisher: a Signal proto, or a plain dict."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from mlmp_cli.display import enum_words
from mlmp_marketplace.v1 import signals_pb2

ACTIONS = enum_words(signals_pb2.Action)  # {"buy": ACTION_BUY, "sell": …, "hold": …}


def to_signal(item: signals_pb2.Signal | dict[str, Any]) -> signals_pb2.Signal:
    """A Signal from a proto or a plain dict ({"symbol", "score", "action": "buy", "confidence", …})."""
    if isinstance(item, signals_pb2.Signal):
        return item
    fields = dict(item)
    action = fields.pop("action", None)
    signal = json_format.ParseDict(fields, signals_pb2.Signal())
    if action is not None:
        signal.action = ACTIONS[action] if isinstance(action, str) else action
    return signal
