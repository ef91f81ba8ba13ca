"""What every dynamic provider of this project shares: the life cycle (`provider.py`) and
the REST client base of the vCenter and Harbor families (`rest.py`)."""
