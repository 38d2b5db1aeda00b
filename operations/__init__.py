"""Paracrine's built-in operation library, importable as ``paracrine.operations.<domain>``.

``operations/<domain>.py`` mirrors ``facts/<domain>.py``.
"""
