"""The command line: ``spillover demo``, ``spillover simulate``."""

from spillover.cli._app import app, main

__all__ = ["app", "main"]
