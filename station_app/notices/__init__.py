"""The four public notices (公示): data assembly (``data``), page layout and PDF/printer output (``render``).

``data`` is pure Python over a read session and applies the domain's masking; ``render`` and
``qtenv`` need Qt (a QGuiApplication, never a widget) and are imported only where pages are drawn.
"""
