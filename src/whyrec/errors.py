"""Exceptions raised at whyrec's public boundaries.

Every error a user can cause derives from :class:`WhyrecError`; the CLI turns it into a one-line
message and a non-zero exit, the HTTP service into a 4xx response. Messages name the problem and,
where possible, what to do about it.
"""


class WhyrecError(Exception):
    """Base class of every error whyrec raises on bad input."""


class DataError(WhyrecError, ValueError):
    """Input data is malformed: missing columns, NaN values, duplicates, unreadable files."""


class UnknownIdError(WhyrecError, KeyError):
    """A user, item, token or attribute value that the feature space does not know."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class EmptyProfileError(WhyrecError, ValueError):
    """A profile with no token the model can use."""


class ParameterError(WhyrecError, ValueError):
    """An argument outside its valid range (k <= 0, an unknown method name, ...)."""


class ConflictError(ParameterError):
    """A valid request that conflicts with the current state of what it names, such as "why not"
    about an item already in the user's history (HTTP 409)."""


class TrainingDivergedError(WhyrecError, ArithmeticError):
    """Training produced a non-finite loss or factors: the learning rate or the step is too large."""


class ModelFormatError(WhyrecError):
    """A model directory that is missing, corrupt, or written by an incompatible version."""


class NotFittedError(WhyrecError):
    """A model used before `fit` (or `load`)."""


class ServiceBusyError(WhyrecError):
    """The service's queue for slow work is full: retry later (HTTP 429)."""


class ServiceTimeoutError(WhyrecError):
    """A request ran past the service's time limit (HTTP 503)."""


class AuthenticationError(WhyrecError):
    """A missing or wrong API key (HTTP 401)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line error; its type name when it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def shown(value: object) -> str:
    """A value as the user wrote it, for a message: text quoted, numbers bare, a missing value as
    "missing"; never a numpy repr such as ``np.int64(60756)``."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():  # a numpy scalar
        value = item()
    if isinstance(value, float) and value != value:  # NaN
        return "missing"
    return repr(value) if isinstance(value, str) else str(value)
