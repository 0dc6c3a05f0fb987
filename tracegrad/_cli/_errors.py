"""The CLI's one error type: a message for the user and exit status 2."""


class CLIError(Exception):
    """A usage or input problem (bad config, missing file): printed, exit status 2."""
