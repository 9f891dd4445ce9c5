"""Errors a user can cause. Each carries one line that names the cause and the fix.

The CLI turns any ``FedrecError`` into that line on stderr and exit status 2; anything else is a bug.
"""


class FedrecError(Exception):
    """A problem the user can fix: bad config, missing data, unknown user, ..."""

    exit_code = 2


class ConfigError(FedrecError):
    """An unknown key or an invalid value in a config or ``--set`` override."""


class DataError(FedrecError):
    """Missing, unreachable or corrupt data files."""


class RunFolderError(FedrecError):
    """A run folder that is missing, incomplete or from an incompatible version."""


class RunFailed(FedrecError):
    """A run ended without aggregating a single update: nothing was learnt (exit status 1, not 2: the input
    was valid)."""

    exit_code = 1
