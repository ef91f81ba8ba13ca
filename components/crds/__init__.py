"""Typed helpers for the custom resources we declare: each renders its spec in one place."""
