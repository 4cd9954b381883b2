"""The ``medfollow`` command line."""
