import os
import tempfile

# Tests never touch the user's cache, and every pass is verified.
os.environ.setdefault("TURBO_CACHE_DIR", tempfile.mkdtemp(prefix="turbo-test-cache-"))
os.environ["TURBO_VERIFY"] = "1"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/*.out from the printer")
