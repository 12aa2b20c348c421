"""Application shell: the Flask factory, configuration, auth, errors, outbox and jobs."""

from loyalty.app import create_app

__all__ = ["create_app"]
