"""The policy pack: rules split by concern (`policy.rules`), the SDK adapters (`policy.pack`),
per-stack enforcement (`policy/config/<stack>.json`) and the pull-request gate (`policy.gate`).

`policy/__main__.py` is the pack's entry point for the Pulumi engine; nothing imports it.
"""
