"""``uvicorn --factory county_server.console.asgi:create``: what each worker of ``serve --workers N`` runs.

Every worker opens its own engine on ``$COUNTY_DB_URL`` (the schema is migrated once by
``serve`` before the workers start); workers share nothing but the database.
"""

from __future__ import annotations

import os


def create():
    from ..app import create_app
    from ..db import make_engine
    from ..store import Store
    from .routes import install

    store = Store(make_engine(os.environ.get("COUNTY_DB_URL")))
    app = create_app(store)
    # One worker refreshing the aggregates in the background is enough; pages refresh on demand.
    install(app, store, refresh_interval=5.0 if os.environ.get("COUNTY_AGGREGATE_WORKER", "1") == "1" else None)
    return app
