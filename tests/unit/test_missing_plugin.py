"""A plugin `make setup` installs is missing: every runner says so and says "run make setup"."""

from __future__ import annotations

import pytest

from policy.gate import missing_plugin

DOWNLOAD_FAILED = (
    "    error: Could not automatically download and install resource plugin 'pulumi-resource-kubernetes' "
    "at version v4.25.0, install the plugin using `pulumi plugin install resource kubernetes v4.25.0`: "
    "error downloading provider kubernetes to file: failed to download plugin: kubernetes-4.25.0"
)
NOT_FOUND = (
    "error: no resource plugin 'pulumi-resource-kubernetes' found in the workspace at version v4.25.0 "
    "or on your $PATH, install the plugin using `pulumi plugin install resource kubernetes v4.25.0`"
)


@pytest.mark.parametrize("output", [DOWNLOAD_FAILED, NOT_FOUND])
def test_the_engines_missing_plugin_errors_say_run_make_setup(output: str) -> None:
    assert missing_plugin(f"Updating (it):\n{output}\nResources:\n") == (
        "the Pulumi resource plugin 'kubernetes' v4.25.0 is not installed: run `make setup`"
    )


def test_a_missing_language_host_is_named_too() -> None:
    output = "error: no language plugin 'pulumi-language-python' found in the workspace or on your $PATH"
    assert missing_plugin(output) == "the Pulumi language plugin 'python' is not installed: run `make setup`"


def test_other_failures_get_no_plugin_hint() -> None:
    assert missing_plugin("error: getting stack configuration: incorrect passphrase") is None
