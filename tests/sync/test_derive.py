"""Pinyin keys: the fast per-character path agrees with pypinyin's full segmentation (search must not change)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from station_app.domain.names import pinyin_keys, segmented_pinyin_keys

# Common surname and given-name characters, polyphonic ones included (单 曾 解 查 乐 重 长 …).
CHARS = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕"
         "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
         "明华建国军丽芳秀英红梅兰玉单解仇朴查乐重长行发和都朝会")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=CHARS, min_size=1, max_size=4))
def test_fast_pinyin_keys_match(name):
    assert pinyin_keys(name) == segmented_pinyin_keys(name)


def test_names_with_a_dictionary_phrase_take_the_full_path():
    for name in ("单于", "长孙无忌", "曾国藩", "解放", "重庆"):
        assert pinyin_keys(name) == segmented_pinyin_keys(name)
