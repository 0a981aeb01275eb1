"""County server (FastAPI): reference data and the sync endpoints; see issue 5."""
