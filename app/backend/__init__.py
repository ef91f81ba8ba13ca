"""The chat backend (BFF): `python -m app.backend` serves it with uvicorn."""
