"""The CLI client tests run against the API fixtures of tests/app."""

from tests.app.fixtures import api_key, auth, client, seg_mp4, settings, submit  # noqa: F401
