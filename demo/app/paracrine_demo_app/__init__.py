"""Paracrine's demo web application: every request is stored in PostgreSQL and read back."""

__version__ = "1.0.0"
