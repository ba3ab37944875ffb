"""The web fixtures (an app with one triaged ticket, a token per role)."""

from tests.web.conftest import ui  # noqa: F401
