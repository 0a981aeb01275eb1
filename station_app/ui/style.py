"""The app's look: a light, calm stylesheet with generous spacing and large click targets."""

from __future__ import annotations

FONT_FAMILY = "Noto Sans SC"
#: Point size for body text: older eyes on a clinic PC read 11 pt comfortably.
BASE_POINT_SIZE = 11

ACCENT = "#2f6f9f"
ERROR = "#b3261e"

STYLESHEET = f"""
QMainWindow, QDialog {{
    background: #f6f8fa;
}}
QListWidget#nav {{
    background: #eef2f6;
    border: none;
    border-right: 1px solid #d5dde5;
    padding: 8px 6px;
    outline: 0;
}}
QListWidget#nav::item {{
    padding: 0 10px;
    border-radius: 6px;
    color: #1f2d3a;
}}
QListWidget#nav::item:hover {{
    background: #dde7f0;
}}
QListWidget#nav::item:selected {{
    background: {ACCENT};
    color: white;
}}
QLabel#pageTitle {{
    font-size: 17pt;
    font-weight: bold;
    color: #1f2d3a;
}}
QLabel#pageSubtitle, QLabel#hint {{
    color: #5a6b7b;
}}
QLabel#dialogTitle {{
    font-size: 15pt;
    font-weight: bold;
    color: #1f2d3a;
}}
QLabel#error {{
    color: {ERROR};
}}
QFrame#card {{
    background: white;
    border: 1px solid #d5dde5;
    border-radius: 8px;
}}
QLabel#cardValue {{
    font-size: 22pt;
    font-weight: bold;
    color: {ACCENT};
}}
QLabel#cardCaption {{
    color: #5a6b7b;
}}
QFrame#placeholder {{
    background: white;
    border: 1px dashed #b8c4cf;
    border-radius: 8px;
}}
QPushButton {{
    min-height: 34px;
    padding: 4px 18px;
    border: 1px solid #b8c4cf;
    border-radius: 6px;
    background: white;
}}
QPushButton:hover {{
    background: #eef2f6;
}}
QPushButton:default, QPushButton#primary {{
    background: {ACCENT};
    border-color: {ACCENT};
    color: white;
}}
QPushButton:disabled {{
    color: #9aa7b3;
    background: #eef2f6;
    border-color: #d5dde5;
}}
QComboBox {{
    /* Only the height: a bordered QSS combo loses Fusion's drop-down arrow. */
    min-height: 32px;
}}
QLineEdit {{
    min-height: 32px;
    padding: 2px 8px;
    border: 1px solid #b8c4cf;
    border-radius: 5px;
    background: white;
}}
QLineEdit:focus {{
    border-color: {ACCENT};
}}
QStatusBar {{
    background: #eef2f6;
    border-top: 1px solid #d5dde5;
}}
QStatusBar QLabel {{
    padding: 2px 10px;
    color: #33414e;
}}
"""
