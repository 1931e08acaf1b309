"""Switchboard: a self-hosted realtime customer-service engine.

The dispatch engine lives in :mod:`switchboard.actors`; start one with
:func:`switchboard.actors.start.start_engine`.
"""

__version__ = "0.1.0"
