"""What the station app and the county server share: the wire protocol and nothing station-only.

``protocol`` (limits, reasons, op shape, JSON/gzip), ``hlc`` (hybrid logical clock stamps),
``tables`` (which tables travel, their fields, kinds and natural keys — plain data, no ORM),
``validate`` (judging one pushed or pulled op), ``bundle_format`` (the USB bundle's signed and
encrypted envelope), ``reference`` (the county reference file → rows), ``domain`` (pure rules
both programs compute with: codes, ID numbers, masking, figure definitions).

Never imports ``station_app``, ``county_server``, SQLAlchemy ORM models or Qt
(``tests/test_layers.py`` checks it).
"""

__version__ = "0.1.0"  # one version for the whole wheel (station app, county server, protocol)
