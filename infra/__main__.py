"""Pulumi program entry point: validate the stack config, then compose the components."""

from infra.config import load_settings
from infra.program import build

build(load_settings())
