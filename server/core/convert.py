"""Small conversions between rows and protos shared by the servicers."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from marketplace.v1 import common_pb2
from server.db.models import Vendor


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def vendor_proto(vendor: Vendor) -> common_pb2.Vendor:
    return common_pb2.Vendor(
        id=vendor.id, slug=vendor.slug, display_name=vendor.display_name, create_time=timestamp(vendor.created_at)
    )
