"""PIPL: an ID number never reaches a log line in clear."""

from __future__ import annotations

import logging

import pytest

from station_app.log import RedactingFilter, redact


@pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x", "440524188001010014",
                                    "441900890101221"])
def test_id_numbers_are_masked(number):
    out = redact(f"导入失败：{number}，行 12")
    assert number not in out and out.startswith("导入失败：" + number[:6]) and number[-4:] in out


def test_other_numbers_are_left_alone():
    text = "电话 13800138000，金额 4000000，订单 12345678901234567890"
    assert redact(text) == text


def test_filter_rewrites_formatted_records(caplog):
    logger = logging.getLogger("station_app.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("resident %s saved", "11010519491231002X")
    assert "11010519491231002X" not in caplog.text and "110105********002X" in caplog.text


def test_tracebacks_are_masked_too(caplog):
    logger = logging.getLogger("station_app.test.tb")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.ERROR):
        try:
            raise ValueError("UNIQUE constraint failed: ('11010519491231002X',)")
        except ValueError:
            logger.exception("save failed")
    assert "11010519491231002X" not in caplog.text and "110105********002X" in caplog.text
