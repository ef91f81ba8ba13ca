"""The PAIS stand-in: OIDC client-credentials token endpoint, Agent API chat and Model
Endpoint chat completions, served over HTTPS by one host process of the local environment.
`python -m app.pais_standin --help` shows how to start it."""
