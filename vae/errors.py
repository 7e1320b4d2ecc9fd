"""The errors a person sees about run files, in a module of their own so that every layer can raise them."""


class CheckpointError(Exception):
    """A checkpoint cannot be used: missing, corrupt, truncated, foreign, mismatched or protected."""


class NameTaken(CheckpointError):
    """The run name is held by another writer, exists, or is shipped. The message says which, for a person."""
