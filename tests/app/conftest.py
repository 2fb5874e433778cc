"""API test fixtures, defined in tests/app/fixtures.py (also used by tests/cli)."""

from tests.app.fixtures import api_key, auth, client, seg_mp4, settings, submit  # noqa: F401
