"""Error types that the entry points turn into one clear line and a non-zero exit."""


class HoneybeeError(Exception):
    """A user-facing error: bad config, bad data, missing file. Printed as one line, no traceback."""


class ConfigError(HoneybeeError):
    """An impossible or unknown configuration value."""


class DataError(HoneybeeError):
    """A data file or record that cannot be used (names the file and the record index)."""
