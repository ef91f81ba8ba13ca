"""Pulumi program entry point: validate the stack config, then compose the components."""

import pulumi

from infra.config import load_settings
from infra.program import build
from infra.settle import settle_outputs

build(load_settings())
# After the module code: wait for the outputs in one pass, not the SDK's O(outputs²) loop.
pulumi.run(settle_outputs)
