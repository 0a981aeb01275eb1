"""``python -m county_server`` runs the county-server command line."""

from county_server.cli import main

raise SystemExit(main())
