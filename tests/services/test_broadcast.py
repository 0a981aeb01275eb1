"""Loudspeaker scripts from county data and village figures; the audio made offline with espeak-ng."""

from __future__ import annotations

import wave
from datetime import date

import pytest

from station_app.domain.errors import DomainError, ValidationError
from station_app.services import broadcast
from station_app.services.enrollment import mark_paid
from tests.conftest import VILLAGE_A, VILLAGE_B, require_tool
from tests.services.enrollment.town import TODAY, YEAR, build_town


@pytest.fixture
def town(township_ws):
    ws, admin = township_ws
    return build_town(ws, admin)


def test_unpaid_script_is_exact_and_names_nobody(town):
    # Village A: 张 ×4, 李, 王 ×2, 周二 (周老汉 died), 赵 = 9 registered, nobody has paid yet.
    script = broadcast.build_script(town.ws, town.admin, "unpaid", VILLAGE_A, today=TODAY)
    assert script.text == (
        "群英村的村民朋友们请注意：截至十一月二十日，本村还有九人未缴二〇二七年度医保费。"
        "缴费截止十二月三十一日，还剩四十一天。个人缴费每人四百元，可以通过税务微信公众号、手机软件缴费，"
        "也可以到村卫生室咨询代办。请还没有缴费的村民抓紧缴费，外出务工的家庭成员不要漏缴。")
    assert not any(name in script.text for name in town.ids)
    assert not any(ch.isdigit() for ch in script.text)


def test_unpaid_count_follows_payments(town):
    mark_paid(town.ws, town.admin, [town["张大山"], town["刘桂兰"]], YEAR, paid_on=TODAY, channel="wechat",
              today=TODAY)
    script = broadcast.build_script(town.ws, town.admin, "unpaid", VILLAGE_A, today=TODAY)
    assert "本村还有七人未缴" in script.text


def test_policy_script_reads_the_countys_figures(town):
    script = broadcast.build_script(town.ws, town.admin, "policy", VILLAGE_A, today=TODAY)
    assert "二〇二七年度城乡居民医保集中缴费期为二〇二六年九月一日至二〇二六年十二月三十一日" in script.text
    assert "每人每年四百元" in script.text
    assert "特困人员的个人缴费由政府全额资助" in script.text
    assert "低保对象每人资助一百五十元" in script.text
    assert not any(ch.isdigit() for ch in script.text)


def test_custom_script_that_names_a_villager_is_refused(town):
    with pytest.raises(ValidationError, match="不能点名"):
        broadcast.build_script(town.ws, town.admin, "custom", VILLAGE_A, custom_text="请张大山到卫生室来一趟",
                               today=TODAY)
    ok = broadcast.build_script(town.ws, town.admin, "custom", VILLAGE_A,
                                custom_text="12月10日上午9点在村委会开展义诊", today=TODAY)
    assert ok.text == "十二月十日上午九点在村委会开展义诊"


def test_a_village_doctor_cannot_broadcast_for_another_village(town):
    with pytest.raises(DomainError):
        broadcast.build_script(town.ws, town.doctor(VILLAGE_A), "unpaid", VILLAGE_B, today=TODAY)
    with pytest.raises(ValidationError, match="找不到村"):
        broadcast.build_script(town.ws, town.admin, "unpaid", "610921103299", today=TODAY)


def test_wav_made_offline_with_a_duration_from_the_text(town, tmp_path):
    require_tool("espeak-ng", "espeak-ng")
    out = tmp_path / "广播" / "unpaid.wav"
    result = broadcast.make_broadcast(town.ws, town.admin, "unpaid", VILLAGE_A, out, today=TODAY)
    assert result.engine == "espeak-ng"
    assert result.text_path.read_text(encoding="utf-8").strip() == result.script.text
    with wave.open(str(out)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
        assert audio.getnchannels() == 1 and audio.getsampwidth() == 2
        frames = audio.readframes(audio.getnframes())
    low, high = result.script.expected_seconds()
    assert low <= seconds <= high, (low, seconds, high)
    assert abs(seconds - result.seconds) < 0.01
    # peak-normalised to -1 dBFS, with silent padding at both ends
    import array

    samples = array.array("h", frames)
    assert max(abs(s) for s in samples) == pytest.approx(broadcast.PEAK_TARGET, abs=2)
    pad = int(audio.getframerate() * broadcast.PAD_SECONDS)
    assert max(abs(s) for s in samples[:pad]) == 0 and max(abs(s) for s in samples[-pad:]) == 0


def test_output_errors_are_chinese_messages(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="不是文件夹"):
        broadcast.check_output_path(tmp_path / "file" / "a.wav")
    with pytest.raises(ValidationError, match=r"\.wav"):
        broadcast.check_output_path(tmp_path / "a.mp4")
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(ValidationError, match="文件夹"):
        broadcast.check_output_path(tmp_path / "dir.wav")
