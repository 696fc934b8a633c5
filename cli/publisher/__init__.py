"""SignalPublisher: how a deployed model sends its signals, from our library.

    publisher = SignalPublisher.from_env()      # MP_API_URL / MP_GRPC_TARGET and MP_DEPLOYMENT_TOKEN
    publisher.publish({"symbol": "AAPL", "score": 0.4, "confidence": 0.7})
    publisher.flush()                           # every signal so far acknowledged (or rejected)

Signals are cut into numbered batches and streamed over StreamSignals. A batch stays in memory until
the server acknowledges it (after its commit); when the connection drops, the publisher reconnects
with back-off and resends every unacknowledged batch, and the server's de-duplication on
(deployment, publisher, sequence) makes the resend safe. Each publisher picks a random publisher_id
and numbers its batches from 1, so replicas of a model, or a restart overlapping the old process,
never take each other's batches for resends.

FeatureStream follows the open round's feature rows as bars arrive (a model answers each with a signal);
it reconnects with back-off on its own and asks the publisher for the current token each time.

A heartbeat every HEARTBEAT seconds keeps the deployment live. Signals and the token only ever go to the
marketplace given (MP_GRPC_TARGET); destinations linked with `mp link-infra` receive the signals from the
marketplace, never from here.
"""

from mlmp_cli.publisher.features import FeatureStream, FeatureStreamUnsupported, LiveFeatures
from mlmp_cli.publisher.publisher import PublisherStopped, SignalPublisher, Totals
from mlmp_cli.publisher.signals import to_signal

__all__ = [
    "FeatureStream", "FeatureStreamUnsupported", "LiveFeatures", "PublisherStopped", "SignalPublisher", "Totals",
    "to_signal",
]
