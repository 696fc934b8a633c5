"""How deployments read on a terminal, shared by `mp deploy`, `mp link-infra` and `mp deployments`."""

from __future__ import annotations

from typing import Any

from mlmp_cli import output
from mlmp_cli.display import enum_word, when


def state_name(deployment: Any) -> str:
    from mlmp_marketplace.v1 import deployments_pb2

    return enum_word(deployments_pb2.DeploymentState, deployment.state)


def delivery_state(delivery: Any) -> str:
    from mlmp_marketplace.v1 import deployments_pb2

    return enum_word(deployments_pb2.LinkDeliveryState, delivery.state)


def delivery_table(deployment: Any) -> None:
    output.table(
        ["URL", "DELIVERY", "DELIVERED THROUGH", "ATTEMPTS", "LAST ATTEMPT", "LAST ERROR"],
        [(d.url, delivery_state(d), d.delivered_through or "-", d.attempts, when(d.last_attempt_time, seconds=True),
          d.last_error or "-") for d in deployment.deliveries],
        empty=f"No destinations: deployment {deployment.id}'s signals stay in the marketplace. "
              "Link one with: mp link-infra --add URL",
    )  # fmt: skip
