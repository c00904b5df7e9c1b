"""The trainer's user-input errors: what the CLI reports in one line instead of a traceback.

A :class:`ConfigError` says that a run's configuration cannot work, in words the user can act
on: a bad value, or a dataset, device, checkpoint or saved curve it names that is missing.
It is a ``ValueError`` (a wrong type is also a ``TypeError``, a missing file also a
``FileNotFoundError``), so library callers catch it as usual. Any other exception out of the
trainer is a bug or an environment failure (out of memory, a crashed worker): the CLI lets
it through with its full traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ConfigTypeError", "MissingInputError"]


class ConfigError(ValueError):
    """A run configuration that cannot work; the message names the value and what to do."""


class ConfigTypeError(ConfigError, TypeError):
    """A configuration value of the wrong type (e.g. a string for ``epochs`` in a JSON file)."""


class MissingInputError(ConfigError, FileNotFoundError):
    """A file or folder the configuration names is not there (data, a checkpoint)."""
