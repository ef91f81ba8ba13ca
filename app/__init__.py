"""The reference chat application the infrastructure deploys.

- `app.backend`: FastAPI BFF (OIDC client credentials, PAIS Agent API with Model Endpoint
  fallback, one PostgreSQL row per exchange, health/readiness, Prometheus metrics).
- `app/frontend`: static chat page served by nginx, `/api/` proxied to the backend.
- `app.pais_standin`: the PAIS stand-in the local environment runs as a host process.

`app.backend` and `app/frontend` are self-contained: the container images copy only them
(plus this file); nothing there imports `app.pais_standin`.
"""
