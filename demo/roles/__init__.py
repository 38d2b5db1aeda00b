"""The demo's roles: each is a function that declares one part of a host; deploy.py calls them in order.

Roles are functions, not module-level code: a deploy file runs once per host,
but Python imports a module once, so calls at module level would register for
the first host only.
"""
