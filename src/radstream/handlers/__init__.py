"""Thin Lambda entry points: parse the event, call the domain, shape the reply.

Each module exposes ``handler(event, context)``. AWS clients come from ``_aws`` so they are
created on first use and reused while the execution environment stays warm.
"""
