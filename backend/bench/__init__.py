"""`make bench`: load tests of the API against a raw-driver ceiling (docs/performance.md).

Nothing in `app` may import from here.
"""
