"""Entry point the Pulumi engine runs (`pulumi preview --policy-pack policy`).

Constructing the PolicyPack starts the analyzer's gRPC server and never returns, so nothing
imports this module; tests use `policy.pack` and the rule modules.
"""

from pulumi_policy import PolicyPack

from policy import request_scope, secretness
from policy.pack import DEFAULT_LEVEL, PACK_NAME, build_policies

secretness.install()
request_scope.install()

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=DEFAULT_LEVEL,
    description="PAIF: TLS, limits, secrets, availability, supply chain, pod security, resource options",
)
