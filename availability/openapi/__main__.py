"""`python -m availability.openapi`: regenerate or check the connector files (see `cli.py`)."""

from .cli import main

raise SystemExit(main())
