"""PAIS client: token cache and refresh, 401 handling, agent -> model fallback, retries, TLS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from app.backend.pais import PaisClient, PaisError, reply_text, tls_context
from app.pais_standin.service import create_app as standin_app
from tests.unit.app.fakes import FakeClock, FakePais, completion, settings
from tests.unit.app.servers import CLIENT_ID, CLIENT_SECRET, serve_in_thread
from tests.unit.app.tls import TlsFiles, make_tls_files

AGENT = "/v1/agents/rag-agent/chat"
MODEL = "/v1/chat/completions"


def client(fake: FakePais, clock: FakeClock | None = None, **env: str) -> PaisClient:
    return PaisClient(settings(**env), fake.client(), clock=clock or FakeClock(), retry_wait_max=0.01)


def test_token_is_fetched_once_and_reused() -> None:
    fake = FakePais()
    pais = client(fake)

    async def two_chats() -> None:
        assert (await pais.chat("hi")).text == "from agent"
        assert (await pais.chat("again")).text == "from agent"

    asyncio.run(two_chats())
    assert fake.count("/oauth/token") == 1
    assert fake.count(AGENT) == 2
    assert fake.bodies[0] == {"messages": [{"role": "user", "content": "hi"}]}


def test_token_is_refreshed_shortly_before_it_expires() -> None:
    fake = FakePais(expires_in=300)
    clock = FakeClock()
    pais = client(fake, clock)

    async def run() -> None:
        await pais.chat("a")
        clock.now += 265  # inside the lifetime less the 30 s margin
        await pais.chat("b")
        assert fake.count("/oauth/token") == 1
        clock.now += 6  # 271 s: within 30 s of expiry
        await pais.chat("c")

    asyncio.run(run())
    assert fake.count("/oauth/token") == 2
    assert pais.tokens.fetches == 2


def test_a_401_fetches_a_new_token_once_and_retries() -> None:
    fake = FakePais()
    pais = client(fake)

    async def run() -> str:
        await pais.chat("first")
        fake.revoked.add("tok-1")  # PAIS forgets the token (restart, revocation)
        return (await pais.chat("second")).text

    assert asyncio.run(run()) == "from agent"
    assert fake.count("/oauth/token") == 2
    assert fake.count(AGENT) == 3  # first, second with the revoked token, retry with tok-2


def test_a_401_that_persists_is_an_error_not_a_loop() -> None:
    fake = FakePais()
    pais = client(fake)

    async def run() -> None:
        await pais.chat("first")
        fake.revoked.update({"tok-1", "tok-2", "tok-3"})
        await pais.chat("second")

    with pytest.raises(PaisError, match="answered 401"):
        asyncio.run(run())
    assert fake.count("/oauth/token") == 2
    assert fake.count(AGENT) == 3


@pytest.mark.parametrize("status", [404, 501])
def test_agent_404_or_501_falls_back_to_the_model_endpoint(status: int) -> None:
    fake = FakePais(agent=[status])
    pais = client(fake, PAIS_MODEL_NAME="llama-3-8b")
    reply = asyncio.run(pais.chat("hello"))
    assert (reply.text, reply.source) == ("from model", "model")
    assert fake.count(AGENT) == 1
    assert fake.count(MODEL) == 1
    assert fake.bodies[-1] == {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hello"}]}


def test_model_fallback_without_a_model_name_lets_the_endpoint_choose() -> None:
    fake = FakePais(agent=[404])
    asyncio.run(client(fake).chat("hello"))
    assert "model" not in fake.bodies[-1]


def test_5xx_is_retried_a_bounded_number_of_times_without_fallback() -> None:
    fake = FakePais(agent=[503])
    with pytest.raises(PaisError, match="503"):
        asyncio.run(client(fake).chat("hello"))
    assert fake.count(AGENT) == 3
    assert fake.count(MODEL) == 0


def test_a_transient_5xx_then_success() -> None:
    fake = FakePais(agent=[502, 200])
    reply = asyncio.run(client(fake).chat("hello"))
    assert reply.source == "agent"
    assert fake.count(AGENT) == 2


def test_connect_errors_are_retried() -> None:
    fake = FakePais(connect_failures=2)
    assert asyncio.run(client(fake).chat("hello")).text == "from agent"
    fake = FakePais(connect_failures=10)
    with pytest.raises(PaisError, match="unreachable"):
        asyncio.run(client(fake).chat("hello"))
    assert len(fake.calls) == 3


def test_refused_client_credentials() -> None:
    fake = FakePais(token=[401])
    with pytest.raises(PaisError, match=r"refused the client credentials \(401\)"):
        asyncio.run(client(fake).chat("hello"))
    fake = FakePais()
    wrong = PaisClient(
        settings(PAIS_CLIENT_SECRET="wrong"), fake.client(), clock=FakeClock(), retry_wait_max=0.01
    )
    with pytest.raises(PaisError, match="refused"):
        asyncio.run(wrong.chat("hello"))
    assert fake.count(AGENT) == 0


def test_reply_shapes() -> None:
    assert reply_text(completion("hi")) == "hi"
    assert reply_text({"response": "agent says", "references": [], "session_id": "s"}) == "agent says"
    bad_payloads: list[object] = [{}, {"choices": []}, {"choices": [{"text": "x"}]}, [], "x"]
    for bad in bad_payloads:
        with pytest.raises(PaisError, match="unexpected shape"):
            reply_text(bad)


def test_tls_context_trusts_only_the_given_bundle(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    ours = tls_context(tls.ca_cert)
    assert ours.verify_mode == ssl.CERT_REQUIRED and ours.check_hostname
    assert [c["subject"] for c in ours.get_ca_certs()] == [((("commonName", "paif test CA"),),)]
    system = tls_context(None)
    assert system.verify_mode == ssl.CERT_REQUIRED and system.check_hostname
    assert all(c["subject"] != ((("commonName", "paif test CA"),),) for c in system.get_ca_certs())


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def test_pais_ca_bundle_is_what_verifies_the_real_standin(tls: TlsFiles) -> None:
    with serve_in_thread(standin_app({CLIENT_ID: CLIENT_SECRET}), tls) as url:
        env = {
            "PAIS_BASE_URL": url,
            "PAIS_TOKEN_URL": f"{url}/oauth/token",
            "PAIS_CLIENT_ID": CLIENT_ID,
            "PAIS_CLIENT_SECRET": CLIENT_SECRET,
        }

        async def chat(pais: PaisClient) -> tuple[str, str]:
            try:
                reply = await pais.chat("over TLS")
                return reply.text, reply.source
            finally:
                await pais.aclose()

        trusted = PaisClient(settings(**env, PAIS_CA_BUNDLE=str(tls.ca_cert)), retry_wait_max=0.01)
        assert asyncio.run(chat(trusted)) == ("Agent rag-agent received: over TLS", "agent")

        system_cas = PaisClient(settings(**env), retry_wait_max=0.01)
        with pytest.raises(PaisError, match="unreachable"):
            asyncio.run(chat(system_cas))
        # The failure is the certificate check, not the network.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/healthz", verify=tls_context(None))
