"""Paracrine's built-in fact library, importable as ``paracrine.facts.<domain>``.

Each module holds the facts of one domain. Everything here runs on targets:
standard library only.
"""
