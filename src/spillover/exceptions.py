"""The error tree of spillover.

Every error the package raises on purpose derives from :class:`SpilloverError`; the command line
turns any of them into one line on stderr and exit code 2.

::

    SpilloverError
    ├── ConfigError (ValueError)          a parameter or configuration value breaks a rule
    │   ├── GraphError                    a graph cannot be built or read as asked
    │   ├── EventError                    an event record or events file is malformed
    │   └── PersonaError                  a persona assignment cannot be honoured
    ├── PolicyError                       a policy returned or was given something invalid
    ├── LLMError                          a language-model backend failed
    │   └── TransientLLMError             worth retrying: rate limit, timeout, connection, 5xx
    ├── CacheMissError (LookupError)      a read-only cache has no answer for a request
    ├── IntegrationError                  a model could not be integrated
    ├── FitError                          an estimator could not fit the data it was given
    │   └── NotFittedError (AttributeError)  a fitted attribute was read before ``fit``
    ├── RunDirError                       a run directory cannot be written or read
    └── MissingExtraError (ImportError)   a feature's optional packages are not installed
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CacheMissError",
    "ConfigError",
    "EventError",
    "FitError",
    "GraphError",
    "IntegrationError",
    "LLMError",
    "MissingExtraError",
    "NotFittedError",
    "PersonaError",
    "PolicyError",
    "RunDirError",
    "SpilloverError",
    "TransientLLMError",
]


class SpilloverError(Exception):
    """Base class of every error raised on purpose by spillover.

    ``params`` names the parameters the message is about, as the library names them
    (``n_nodes``, ``llm.concurrency``, ``llm.cache_mode``, ``out``, ``force``; empty when the
    error is about no parameter), so that a front end can say where to set them: the command
    line adds its flags (``spillover.cli._simulate_options.flags_on_errors``). It survives
    pickling (a sweep's worker).
    """

    def __init__(self, *args: object, params: Iterable[str] = ()) -> None:
        super().__init__(*args)
        self.params: tuple[str, ...] = tuple(params)


class ConfigError(SpilloverError, ValueError):
    """A parameter or configuration value breaks a documented rule (``params`` as for
    :class:`SpilloverError`)."""


class GraphError(ConfigError):
    """A graph cannot be built or read as asked."""


class EventError(ConfigError):
    """An event record or an events file is malformed."""


class PersonaError(ConfigError):
    """A persona assignment cannot be honoured."""


class PolicyError(SpilloverError):
    """A policy returned, or was given, something invalid."""


class LLMError(SpilloverError):
    """A language-model backend failed."""


class TransientLLMError(LLMError):
    """A backend failure worth retrying (rate limit, timeout, connection error, 5xx)."""


class CacheMissError(SpilloverError, LookupError):
    """A read-only cache holds no answer for a request."""


class IntegrationError(SpilloverError):
    """A model could not be integrated."""


class FitError(SpilloverError):
    """An estimator could not fit the data it was given."""


class NotFittedError(FitError, AttributeError):
    """A fitted attribute was read before ``fit`` was called."""


class RunDirError(SpilloverError):
    """A run directory (or a sweep's, a study's or a report's output) cannot be written or
    read; ``params`` names the output parameters to change (``out``, ``force``)."""


class MissingExtraError(SpilloverError, ImportError):
    """A feature needs optional packages that are not installed; the message names the extra."""
