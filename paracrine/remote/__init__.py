"""Code that runs on targets, shipped by Mitogen: standard library only.

* :mod:`paracrine.remote.gather` runs a batch of facts in one call.
* :mod:`paracrine.remote.execute` applies a batch of changes in one call.
"""
