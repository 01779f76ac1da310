"""HTTP service and dashboard."""

from whyrec.serve.app import create_app

__all__ = ["create_app"]
