"""Generated passwords (type `dynamic/random:Password`): created once, kept only as secrets."""

from components.password.password import Password, PasswordProvider

__all__ = ["Password", "PasswordProvider"]
