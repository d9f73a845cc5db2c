"""Helpers shared by the test tiers (tests/ is on sys.path: ``from support.moto_server import ...``)."""
