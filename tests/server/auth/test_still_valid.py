"""Re-checking tokens by id (what a replica does for its open streams after it may have missed revocations):
the same answer as introspection, for API, deployment and run tokens."""

from __future__ import annotations

from mlmp_marketplace.v1 import auth_pb2, deployments_pb2, training_pb2
from mlmp_server.auth.introspection import DatabaseIntrospector
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import Market
from tests.helpers.training import start


def test_still_valid_answers_as_introspection_for_every_kind_of_token(market: Market, auth, admin, runs) -> None:
    vendor = create_vendor_token(auth, admin, scopes=("training:write", "deploy:write"))
    acme = bearer(vendor.secret)
    deployed = market.deploy(acme)
    run = start(runs, acme)
    run_token = runs.IssueRunToken(training_pb2.IssueRunTokenRequest(run_id=run.id), metadata=acme).token
    listening = market.server.listening
    assert listening is not None
    resources = listening.resources
    checker = DatabaseIntrospector(resources.sessions, resources.digester, resources.clock)

    def principals():
        async def read():
            return [await checker.introspect(secret) for secret in (vendor.secret, deployed.token, run_token)]

        return market.server.run_in_loop(read)

    found = principals()
    assert None not in found

    def valid() -> set[str]:
        return market.server.run_in_loop(lambda: checker.still_valid(found))

    assert valid() == {principal.token_id for principal in found}
    market.deployments.DeleteDeployment(
        deployments_pb2.DeleteDeploymentRequest(deployment_id=deployed.deployment.id), metadata=acme
    )
    runs.CancelTrainingRun(training_pb2.CancelTrainingRunRequest(run_id=run.id), metadata=acme)
    assert valid() == {found[0].token_id}
    auth.SuspendVendor(auth_pb2.SuspendVendorRequest(vendor="acme"), metadata=admin)
    assert valid() == set()
    assert principals() == [None, None, None]
