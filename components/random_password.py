"""Where `PasswordProvider` lived before it moved to `components/password/`.

Kept because state written by earlier versions names the provider class by this module
path (dynamic providers are pickled by reference): refresh and destroy of such a stack
load it from here. Nothing imports this module; new code uses `components.password`.
"""

from components.password.password import Password, PasswordProvider

__all__ = ["Password", "PasswordProvider"]
