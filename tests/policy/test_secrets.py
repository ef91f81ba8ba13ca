"""Secrets rules: names and shapes, data flow from secret producers, secret outputs, robots."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from policy.rules.common import SECRET_UNKNOWN, UNKNOWN, Res, SecretText
from policy.rules.secrets import (
    HARBOR_ROBOT,
    NO_SECRET_DATA_FLOW,
    NO_SECRET_LITERAL_ENV,
    NO_SECRETS_IN_CONFIGMAP,
    SECRET_OUTPUTS,
    secret_looking_key,
    secret_looking_value,
)
from tests.policy.builders import (
    changed,
    config_map,
    container,
    deployment,
    harbor_connection,
    pg_connection,
    res,
)

PASSWORD = "pulumi-python:dynamic/random:Password"
ROBOT = "pulumi-python:dynamic/harbor:RobotAccount"


@pytest.mark.parametrize(
    "key",
    [
        "DB_PASSWORD",
        "PAIS_CLIENT_SECRET",
        "apiKey",
        "api_key",
        "AUTH_TOKEN",
        "tls.key",
        "privateKey",
        "credentials",
    ],
)
def test_secret_looking_keys(key: str) -> None:
    assert secret_looking_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "PAIS_TOKEN_URL",
        "DB_HOST",
        "SECRET_NAME",
        "PAIS_CLIENT_ID",
        "LOG_LEVEL",
        "TOKEN_TTL",
        "monkey",
        "KEYCLOAK_REALM",
    ],
)
def test_setting_names_that_are_not_secrets(key: str) -> None:
    assert not secret_looking_key(key)


@pytest.mark.parametrize(
    "value",
    [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE...",
        "postgresql://chat_app:hunter2hunter2@db:5432/chat",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_secret_looking_values(value: str) -> None:
    assert secret_looking_value(value) is not None


@pytest.mark.parametrize(
    "value", ["https://pais.internal/oauth/token", "verify-full", "postgresql://db:5432/chat", 5]
)
def test_values_that_are_not_secrets(value: Any) -> None:
    assert secret_looking_value(value) is None


class TestConfigMap:
    def test_plain_settings_pass(self) -> None:
        data = {"PAIS_TOKEN_URL": "https://pais.internal/oauth/token", "DB_HOST": "db", "LOG_LEVEL": "info"}
        assert NO_SECRETS_IN_CONFIGMAP.evaluate(config_map(data)) == []

    def test_secret_key_fails(self) -> None:
        assert NO_SECRETS_IN_CONFIGMAP.evaluate(config_map({"DB_PASSWORD": "x"})) == [
            "ConfigMap 'paif-chat/chat-config' has the secret-looking key 'DB_PASSWORD': move it to a Secret"
        ]

    def test_secret_value_fails(self) -> None:
        [message] = NO_SECRETS_IN_CONFIGMAP.evaluate(
            config_map({"DATABASE": "postgres://u:longpassword@db/chat"})
        )
        assert "holds a URL with an embedded password" in message

    def test_reviewed_keys_can_be_allowed(self) -> None:
        assert (
            NO_SECRETS_IN_CONFIGMAP.evaluate(
                config_map({"TOKEN_AUDIENCE_SECRET": "x"}), {"allowedKeys": ["TOKEN_AUDIENCE_SECRET"]}
            )
            == []
        )

    def test_unknown_value_under_a_plain_key_passes(self) -> None:
        assert NO_SECRETS_IN_CONFIGMAP.evaluate(config_map({"DB_HOST": UNKNOWN})) == []


class TestConfigFiles:
    """A ConfigMap value (or env value) that is a whole config file: its settings are judged
    as the ConfigMap's own keys are, by name and value."""

    @pytest.mark.parametrize(
        ("key", "text", "setting"),
        [
            ("config.yaml", "db:\n  host: db\n  password: hunter2pass\n", "password"),
            ("settings.json", '{"auth": {"client_id": "chat", "client_secret": "abcDEF123456ghi"}}', "client_secret"),
            (".env", "OIDC_CLIENT_SECRET=abcDEF123456ghi", "OIDC_CLIENT_SECRET"),
            ("application.properties", "spring.datasource.password=S3cretPw42", "spring.datasource.password"),
            ("app.ini", "[db]\nuser = app\npassword = S3cretPw42\n", "password"),
            ("manifest.yaml", "kind: Secret\nstringData:\n  token: s3cr3t-t0ken-value\n", "token"),
            ("oauth2-proxy.cfg", 'cookie_secret = "0123456789abcdef0123456789abcdef"', "cookie_secret"),
            # A weak password that repeats its name is a password all the same.
            ("db.yaml", "user: app\npassword: password123\n", "password"),
        ],
    )
    def test_a_file_setting_a_secret_fails(self, key: str, text: str, setting: str) -> None:
        assert NO_SECRETS_IN_CONFIGMAP.evaluate(config_map({key: text})) == [
            f"ConfigMap 'paif-chat/chat-config' key '{key}' holds a file that sets the secret-looking "
            f"'{setting}': move it to a Secret"
        ]

    @pytest.mark.parametrize(
        ("key", "text"),
        [
            ("grafana.ini", "[security]\nadmin_user = admin\nadmin_password = $__env{GF_ADMIN_PASSWORD}\n"),
            ("prometheus.yml", "basic_auth:\n  username: x\n  password_file: /etc/prom/pw\n"),
            ("application.properties", "spring.datasource.password=${DB_PASSWORD}\nauth.secret-name=chat-oidc\n"),
            (".env", "LOG_LEVEL=info\nDB_PASSWORD=\nAPI_KEY=<set-me>\nTOKEN=$(cat /run/secrets/t)\n"),
            ("values.yaml", "auth:\n  existingSecret: chat-auth\n  adminPasswordKey: admin-password\n"),
            ("app.yaml", "tokenizer: cl100k_base\nmax_tokens: 4096\npassword_min_length: 12\n"),
            ("settings.json", '{"token_url": "https://idp/token", "client_secret_file": "/run/secrets/oidc"}'),
            ("nginx.conf", "server {\n  location / { proxy_set_header Authorization $http_authorization; }\n}\n"),
            ("NOTE", "password: kept in the vault"),
        ],
    )
    def test_references_names_and_settings_about_secrets_pass(self, key: str, text: str) -> None:
        assert NO_SECRETS_IN_CONFIGMAP.evaluate(config_map({key: text})) == []

    def test_a_document_of_aliases_is_read_within_a_bound(self) -> None:
        """Nine levels of nine aliases make 387 million scalars; the rule walks at most
        MAX_FILE_SETTINGS nodes and answers at once."""
        lines = ['a0: &a0 ["x"]'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
        assert NO_SECRETS_IN_CONFIGMAP.evaluate(config_map({"bomb.yaml": "\n".join(lines)})) == []

    def test_an_env_value_holding_settings_fails(self) -> None:
        env = [{"name": "APP_SETTINGS", "value": '{"log": "info", "api_key": "k-8f7e6d5c4b3a"}'}]
        assert NO_SECRET_LITERAL_ENV.evaluate(deployment(containers=[changed(container(), "env", env)])) == [
            "container 'backend' of Deployment 'paif-chat/chat-backend' env APP_SETTINGS holds settings with the "
            "secret-looking 'api_key': use valueFrom.secretKeyRef"
        ]


class TestLiteralEnv:
    def test_secret_key_ref_passes(self) -> None:
        assert NO_SECRET_LITERAL_ENV.evaluate(deployment()) == []

    def test_literal_secret_env_fails(self) -> None:
        env = [{"name": "DB_PASSWORD", "value": "hunter2"}]
        assert NO_SECRET_LITERAL_ENV.evaluate(deployment(containers=[changed(container(), "env", env)])) == [
            "container 'backend' of Deployment 'paif-chat/chat-backend' sets the secret-looking env DB_PASSWORD "
            "literally: use valueFrom.secretKeyRef"
        ]

    def test_literal_secret_value_fails(self) -> None:
        env = [{"name": "CONFIG", "value": "-----BEGIN PRIVATE KEY-----"}]
        assert (
            len(NO_SECRET_LITERAL_ENV.evaluate(deployment(containers=[changed(container(), "env", env)])))
            == 1
        )

    def test_unknown_literal_value_under_a_plain_name_passes(self) -> None:
        env = [{"name": "DB_HOST", "value": UNKNOWN}]
        assert NO_SECRET_LITERAL_ENV.evaluate(deployment(containers=[changed(container(), "env", env)])) == []


def password(name: str = "app-password", result: Any = UNKNOWN) -> Res:
    props = {"length": 32, "alphabet": "abc", "keepers": {}, "result": result}
    return res(PASSWORD, props, name=name, secret_outputs=("result",))


class TestSecretDataFlow:
    def test_configmap_computed_from_a_password_fails_even_when_unknown(self) -> None:
        source = password()
        leak = config_map({"DB_PASS_COPY": UNKNOWN}, property_dependencies={"data": (source.urn,)})
        violations = NO_SECRET_DATA_FLOW.evaluate([source, leak])
        assert [(v.urn, v.message) for v in violations] == [
            (
                leak.urn,
                "ConfigMap 'paif-chat/chat-config' data is computed from Password 'app-password', which generates "
                "a secret: put that value in a Secret and reference it with secretKeyRef",
            )
        ]

    def test_configmap_computed_from_plain_resources_passes(self) -> None:
        database = res(
            "pulumi-python:dynamic/postgres:Database", {**pg_connection(), "name": "chat"}, name="db"
        )
        settings = config_map({"DB_NAME": "chat"}, property_dependencies={"data": (database.urn,)})
        assert NO_SECRET_DATA_FLOW.evaluate([database, settings, password()]) == []

    def test_literal_env_equal_to_a_secret_fails(self) -> None:
        secret = res(
            "kubernetes:core/v1:Secret",
            {"metadata": {"name": "chat-secrets"}, "stringData": {"DB_PASSWORD": "s3cr3t-value-42"}},
            name="chat-secrets",
        )
        env = [{"name": "DB_PASS", "value": "s3cr3t-value-42"}]
        workload = deployment(containers=[changed(container(), "env", env)])
        [violation] = NO_SECRET_DATA_FLOW.evaluate([secret, workload])
        assert violation.urn == workload.urn
        assert "holds the plaintext of a secret of Secret 'chat-secrets'" in violation.message

    def test_base64_data_of_a_secret_is_compared_decoded(self) -> None:
        encoded = base64.b64encode(b"another-long-secret").decode()
        secret = res("kubernetes:core/v1:Secret", {"data": {"k": encoded}}, name="s")
        leak = config_map({"DSN": "host=db password=another-long-secret"})
        assert len(NO_SECRET_DATA_FLOW.evaluate([secret, leak])) == 1

    def test_what_the_name_and_shape_rules_report_is_left_to_them(self) -> None:
        encoded = base64.b64encode(b"another-long-secret").decode()
        secret = res("kubernetes:core/v1:Secret", {"data": {"k": encoded}}, name="s")
        leak = config_map({"URL": "https://user:another-long-secret@host"})
        assert NO_SECRET_DATA_FLOW.evaluate([secret, leak]) == []
        assert len(NO_SECRETS_IN_CONFIGMAP.evaluate(leak)) == 1

    def test_role_password_in_a_configmap_fails(self) -> None:
        role = res(
            "pulumi-python:dynamic/postgres:Role",
            {**pg_connection(), "name": "chat_app", "password": "app-password-987"},
            name="app",
        )
        leak = config_map({"DSN": "host=db password=app-password-987"})
        assert len(NO_SECRET_DATA_FLOW.evaluate([role, leak])) == 1

    def test_short_and_public_values_are_not_compared(self) -> None:
        secret = res(
            "kubernetes:core/v1:Secret", {"stringData": {"user": "chat", "tls.crt": "-----BEGIN CERT-----"}}
        )
        settings = config_map({"DB_USER": "chat", "CA": "-----BEGIN CERT-----"})
        assert NO_SECRET_DATA_FLOW.evaluate([secret, settings]) == []

    def test_secretkeyref_to_a_secret_passes(self) -> None:
        secret = res(
            "kubernetes:core/v1:Secret", {"stringData": {"DB_PASSWORD": "s3cr3t-value-42"}}, name="s"
        )
        workload = deployment()
        assert NO_SECRET_DATA_FLOW.evaluate([secret, workload]) == []


class TestSecretOutputs:
    def test_marked_outputs_pass(self) -> None:
        props = {**harbor_connection(), "name": "app-pull", "secret": None}
        assert SECRET_OUTPUTS.evaluate(res(ROBOT, props, secret_outputs=("password", "secret"))) == []

    def test_unmarked_robot_secret_fails(self) -> None:
        props = {**harbor_connection(), "name": "app-pull", "secret": None}
        assert SECRET_OUTPUTS.evaluate(res(ROBOT, props, name="pull", secret_outputs=("password",))) == [
            "RobotAccount 'pull' keeps secret in state as plaintext: list 'secret' in additional_secret_outputs"
        ]

    @pytest.mark.parametrize(
        ("type_", "props", "missing"),
        [
            (PASSWORD, {"length": 32}, "result"),
            (
                "pulumi-python:dynamic/postgres:Role",
                {**pg_connection(), "password": "app-password"},
                "password, admin_password",
            ),
            ("pulumi-python:dynamic/vsphere:VmClass", {"host": "vc", "password": "vc-password"}, "password"),
        ],
    )
    def test_unmarked_credentials_fail(self, type_: str, props: dict[str, Any], missing: str) -> None:
        [message] = SECRET_OUTPUTS.evaluate(res(type_, props))
        assert f"keeps {missing} in state as plaintext" in message

    def test_credentials_absent_in_a_preview_are_not_required(self) -> None:
        props = {"host": "vc", "password": None}
        assert SECRET_OUTPUTS.evaluate(res("pulumi-python:dynamic/vsphere:SupervisorNamespace", props)) == []

    def test_kubernetes_secret_values_from_pulumi_secrets_pass(self) -> None:
        props = {"stringData": {"password": SecretText("from-config"), "token": SECRET_UNKNOWN}}
        assert SECRET_OUTPUTS.evaluate(res("kubernetes:core/v1:Secret", props)) == []

    def test_kubernetes_secret_filled_from_a_plain_value_fails(self) -> None:
        props = {
            "metadata": {"name": "db"},
            "stringData": {"password": "from-plain-config", "username": "app"},
        }
        assert SECRET_OUTPUTS.evaluate(res("kubernetes:core/v1:Secret", props)) == [
            "Secret 'db' stringData.password is not a Pulumi secret (a plain config value or a literal), so the "
            "plaintext sits in the stack config or program and in the state's inputs: set it with `pulumi config "
            "set --secret` and read it with require_secret (or wrap it in pulumi.Output.secret)"
        ]

    def test_public_and_unknown_secret_entries_pass(self) -> None:
        props = {
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": "-----BEGIN CERTIFICATE-----", "tls.key": SECRET_UNKNOWN, "host": "db"},
            "data": {"port": base64.b64encode(b"5432").decode(), "ca": UNKNOWN},
        }
        assert SECRET_OUTPUTS.evaluate(res("kubernetes:core/v1:Secret", props)) == []


def robot(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        **harbor_connection(),
        "name": "app-pull",
        "project": "paif-chat",
        "level": "project",
        "duration": 90,
        "permissions": [
            {
                "kind": "project",
                "namespace": "paif-chat",
                "access": [{"resource": "repository", "action": "pull"}],
            }
        ],
    }
    props.update(overrides)
    return props


class TestHarborRobot:
    def test_expiring_project_robot_passes(self) -> None:
        assert HARBOR_ROBOT.evaluate(res(ROBOT, robot())) == []

    @pytest.mark.parametrize("duration", [-1, 0, None])
    def test_robot_that_never_expires_fails(self, duration: Any) -> None:
        [message] = HARBOR_ROBOT.evaluate(res(ROBOT, robot(duration=duration), name="pull"))
        assert (
            message
            == f"RobotAccount 'pull' never expires (duration {duration!r}): set duration to 1..365 days"
        )

    def test_too_long_lifetime_fails(self) -> None:
        assert HARBOR_ROBOT.evaluate(res(ROBOT, robot(duration=3650), name="pull")) == [
            "RobotAccount 'pull' lives 3650 days: set duration to at most 365 days"
        ]
        assert HARBOR_ROBOT.evaluate(res(ROBOT, robot(duration=3650)), {"maxDurationDays": 3650}) == []

    def test_system_robot_fails(self) -> None:
        assert len(HARBOR_ROBOT.evaluate(res(ROBOT, robot(level="system")))) == 1

    @pytest.mark.parametrize("namespace", ["*", "other-project"])
    def test_robot_granted_other_projects_fails(self, namespace: str) -> None:
        permissions = [{"kind": "project", "namespace": namespace, "access": []}]
        assert len(HARBOR_ROBOT.evaluate(res(ROBOT, robot(permissions=permissions)))) == 1

    def test_unknown_project_is_not_a_violation(self) -> None:
        permissions = [{"kind": "project", "namespace": UNKNOWN, "access": []}]
        assert HARBOR_ROBOT.evaluate(res(ROBOT, robot(project=UNKNOWN, permissions=permissions))) == []
