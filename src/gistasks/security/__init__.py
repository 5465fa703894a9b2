"""Security primitives: deployment keys, signed tokens, sealed secrets, password hashes.

Plain functions and small classes over bytes and strings: no HTTP, no SQL, no rules about who
may do what (those live in ``services/``).
"""
