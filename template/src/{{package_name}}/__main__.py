"""``python -m <package>``: load ``.env``, build the app and serve it."""

from __future__ import annotations

import sys

from dotenv import load_dotenv

from . import create_app
from .config import ConfigError
from .server import run, server_config


def main() -> int:
    """Start the service; exit 2 with a clear message on bad configuration."""
    load_dotenv()
    try:
        app = create_app()
        config = server_config(app)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    run(app, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
