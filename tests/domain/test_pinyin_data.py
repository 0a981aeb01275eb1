"""pypinyin's dictionaries read one entry at a time (so no thread holds the GIL ~100 ms, issue 10):
the same content as pypinyin's own loaders, and pypinyin answers the same with them."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from station_app.domain.pinyin_data import read_json_object

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(find_spec("pypinyin").submodule_search_locations[0])


@pytest.mark.parametrize("name", ["pinyin_dict.json", "phrases_dict.json"])
def test_each_dictionary_reads_the_same_as_json_loads(name):
    text = (PACKAGE / name).read_text(encoding="utf8")
    expected = json.loads(text)
    assert read_json_object(text) == expected
    assert read_json_object(text, piece_chars=1) == expected  # every cut tried, inner ones included


@pytest.mark.parametrize("text, expected", [
    ("{}", {}),
    (' \n{ "a" : [1, {"b": "c"}] ,\n"d":"e,\\"f"}\n', {"a": [1, {"b": "c"}], "d": 'e,"f'}),
    ('{"重": [["chóng"], ["qìng"]]}', {"重": [["chóng"], ["qìng"]]}),
    # cuts inside values (a list of readings, a nested object) and a key seen twice (the last wins)
    ('{"a": [\n"x",\n"y"\n],\n"b": {"c": 1,\n"d": [2,\n"e"]},\n"a": 3\n}', {"a": 3, "b": {"c": 1, "d": [2, "e"]}}),
])
def test_any_json_object_reads_as_json_loads_reads_it(text, expected):
    assert read_json_object(text) == json.loads(text) == expected
    assert read_json_object(text, piece_chars=1) == expected


@pytest.mark.parametrize("text", ["[1, 2]", '{"a" 1}', '{"a": 1 "b": 2}', '{"a": 1,', "",
                                  '{"a": [1,\n"b": 2}'])
def test_what_is_not_a_json_object_is_refused(text):
    with pytest.raises(ValueError):
        read_json_object(text)
    with pytest.raises(ValueError):
        read_json_object(text, piece_chars=1)


CHILD = """
import sys
from station_app.domain.names import pinyin_keys
pinyin_keys("张三")  # the first key loads the dictionaries (here, not in pypinyin)
import pypinyin.constants as constants
from pypinyin import Style, lazy_pinyin
assert type(sys.modules["pypinyin.phrases_dict"]).__name__ == "module"
assert sys.modules["pypinyin.phrases_dict"].__file__.endswith("phrases_dict.json"), "pypinyin loaded its own"
assert len(constants.PHRASES_DICT) > 40000 and len(constants.PINYIN_DICT) > 40000
assert all(isinstance(code, int) for code in list(constants.PINYIN_DICT)[:100])
words = ["重庆", "银行", "参保缴费", "长期护理", "张三", "单于"]
print(repr([lazy_pinyin(w, style=Style.NORMAL) for w in words]), repr([pinyin_keys(w) for w in words]))
"""

REFERENCE = """
from pypinyin import Style, lazy_pinyin
words = ["重庆", "银行", "参保缴费", "长期护理", "张三", "单于"]
print(repr([lazy_pinyin(w, style=Style.NORMAL) for w in words]))
"""


def test_pypinyin_answers_the_same_with_the_dictionaries_read_here():
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    ours = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=300)
    assert ours.returncode == 0, ours.stderr[-2000:]
    theirs = subprocess.run([sys.executable, "-c", REFERENCE], cwd=ROOT, capture_output=True, text=True, env=env,
                            timeout=300)
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    assert ours.stdout.startswith(theirs.stdout.strip())
    assert "['chong', 'qing']" in theirs.stdout and "['yin', 'hang']" in theirs.stdout
    assert "('chongqing', 'cq')" in ours.stdout and "('zhangsan', 'zs')" in ours.stdout
