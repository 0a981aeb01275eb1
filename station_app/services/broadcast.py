"""Loudspeaker audio (流动喇叭, seed 004): a spoken script from county data and village figures.

The script never names a person: it is built from reference data (premium, window, subsidies,
reimbursement) and counts; a custom text that names a resident of the village is refused.
Numbers are read the Chinese way (domain.spoken). Speech is synthesized offline — pyttsx3 with
SAPI5 voices on Windows, espeak-ng elsewhere — then trimmed, padded and peak-normalised so every
file plays at the same loudness on the village loudspeaker.
"""

from __future__ import annotations

import array
import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from station_app.domain import spoken
from station_app.domain.enums import SpecialGroup
from station_app.domain.errors import ValidationError
from station_app.store.models import Place, ReimbursementRate, Resident, SubsidyRule
from station_app.services.changes import Actor
from station_app.services.chronic import refill_reminders
from station_app.services.enrollment import default_year, unpaid_list, year_info
from station_app.services.reference import year_setting
from station_app.services.scope import check_village
from station_app.services.workspace import Workspace

logger = logging.getLogger(__name__)

KINDS = ("policy", "unpaid", "refill", "custom")
KIND_LABELS = {"policy": "医保政策", "unpaid": "催缴提醒", "refill": "续药提醒", "custom": "自定义"}
#: A custom script longer than this would run for minutes on a loudspeaker.
MAX_CUSTOM_CHARS = 600
#: Silence before and after the speech, so the loudspeaker's amplifier has woken up (seconds).
PAD_SECONDS = 0.5
#: Peak level after normalisation: -1 dBFS leaves headroom for cheap amplifiers.
PEAK_TARGET = int(32767 * 10 ** (-1 / 20))
#: Samples quieter than this (of 32767) count as silence when trimming the ends.
SILENCE_LEVEL = 300
#: Mandarin text-to-speech reads about 3-7 characters a second (SAPI5 Huihui ~4.5, espeak-ng
#: cmn ~5 at its default rate); the range a script's audio must fall in is computed from these.
CHARS_PER_SECOND = (2.5, 9.0)
#: espeak-ng's words-per-minute setting that gives an announcer's ~4.5 Chinese characters a second.
ESPEAK_RATE = 260


@dataclass(frozen=True)
class Script:
    kind: str
    village_code: str
    village_name: str
    #: What is read, exactly as synthesized (numbers already in words).
    text: str

    def expected_seconds(self) -> tuple[float, float]:
        """The duration range the audio of this text should have, pads included."""
        spoken_chars = sum(1 for ch in self.text if not ch.isspace() and ch not in "，。；：、！？“”（）")
        low, high = CHARS_PER_SECOND
        return spoken_chars / high + 2 * PAD_SECONDS, spoken_chars / low + 2 * PAD_SECONDS + 3.0


@dataclass(frozen=True)
class BroadcastResult:
    script: Script
    wav_path: Path
    text_path: Path
    mp3_path: Path | None
    seconds: float
    engine: str


# ---------------------------------------------------------------------------- scripts


def _subsidy_sentence(rules: list[SubsidyRule]) -> str:
    full, fixed = [], []
    for rule in sorted(rules, key=lambda r: (r.level, r.special_group)):
        try:
            who = SpecialGroup(rule.special_group).label
        except ValueError:
            who = rule.category_name
        who = who.replace("/", "、")  # 孤儿/事实无人抚养儿童 is read as two groups
        if rule.full:
            full.append(who)
        elif rule.amount_fen:
            fixed.append(f"{who}每人资助{spoken.amount_fen(rule.amount_fen)}")
    parts = []
    if full:
        parts.append("、".join(full) + "的个人缴费由政府全额资助")
    parts.extend(fixed)
    return ("；".join(parts) + "。") if parts else ""


def _policy_text(ws: Workspace, session, village_name: str, year: int, today: date) -> str:
    county = ws.station.county_code
    setting = year_setting(session, county, year)
    if setting is None:
        raise ValidationError(f"县医保局尚未下发 {year} 年度的缴费标准，不能生成政策广播。")
    rules = list(session.scalars(select(SubsidyRule).where(
        SubsidyRule.county_code == county, SubsidyRule.year == year, SubsidyRule.deleted.is_(False))))
    rate_year = session.scalar(select(func.max(ReimbursementRate.year)).where(
        ReimbursementRate.county_code == county, ReimbursementRate.deleted.is_(False),
        ReimbursementRate.year <= year))
    township = None
    if rate_year is not None:
        township = session.scalar(select(ReimbursementRate).where(
            ReimbursementRate.county_code == county, ReimbursementRate.year == rate_year,
            ReimbursementRate.hospital_level == "township", ReimbursementRate.deleted.is_(False)))
    text = (f"{village_name}的村民朋友们，现在播报医保政策。"
            f"{spoken.year(year)}度城乡居民医保集中缴费期为{spoken.full_date(setting.collection_start)}"
            f"至{spoken.full_date(setting.deadline)}，个人缴费标准为每人每年{spoken.amount_fen(setting.premium_fen)}。"
            f"在集中缴费期内缴费的，从{spoken.year(year)}一月一日起享受医保待遇；逾期参保的，要设置待遇等待期。"
            "新生儿出生后请及时办理参保。")
    text += _subsidy_sentence(rules)
    if township is not None:
        text += (f"在镇卫生院住院，起付标准{spoken.amount_fen(township.deductible_fen)}，"
                 f"政策范围内费用报销{spoken.percent(township.ratio_pct, 0)}。")
    text += ("患有高血压、糖尿病等慢性病的村民，可以到村卫生室申请门诊慢特病待遇。"
             "外出务工的家庭成员不要漏缴，有疑问请到村卫生室咨询。")
    return text


def _unpaid_text(ws: Workspace, actor: Actor, village_code: str, village_name: str, today: date) -> str:
    year = default_year(ws, today)
    if year is None:
        raise ValidationError("县医保局尚未下发缴费年度，不能生成催缴广播。")
    info = year_info(ws, year, today=today)
    if not info.has_setting or info.deadline is None:
        raise ValidationError(f"县医保局尚未下发 {year} 年度的缴费标准，不能生成催缴广播。")
    owing = unpaid_list(ws, actor, year, village_code=village_code, today=today).people
    head = f"{village_name}的村民朋友们请注意："
    if owing == 0:
        return head + f"截至{spoken.month_day(today)}，本村{spoken.year(year)}度医保费已经全部缴清，感谢大家的支持。"
    text = head + f"截至{spoken.month_day(today)}，本村还有{spoken.integer(owing)}人未缴{spoken.year(year)}度医保费。"
    if info.phase == "closed":
        text += (f"集中缴费期已于{spoken.month_day(info.deadline)}截止，逾期参保要设置待遇等待期，"
                 "请尽快到村卫生室咨询补缴。")
    else:
        days = info.days_left or 0
        text += (f"缴费截止{spoken.month_day(info.deadline)}，还剩{spoken.integer(days)}天。"
                 f"个人缴费每人{spoken.amount_fen(info.premium_fen)}，可以通过税务微信公众号、手机软件缴费，"
                 "也可以到村卫生室咨询代办。请还没有缴费的村民抓紧缴费，外出务工的家庭成员不要漏缴。")
    return text


def _refill_text(ws: Workspace, actor: Actor, village_code: str, village_name: str, today: date) -> str:
    due = refill_reminders(ws, actor, village_code=village_code, today=today)
    head = f"{village_name}持有门诊慢特病卡的村民朋友们请注意："
    if not due:
        return head + f"截至{spoken.month_day(today)}，本村近期没有需要续药的持卡人。请按医嘱用药，有不适及时就医。"
    overdue = sum(1 for d in due if d.days_left < 0)
    text = head + f"截至{spoken.month_day(today)}，本村有{spoken.integer(len(due))}位持卡人近期需要续药"
    text += f"，其中{spoken.integer(overdue)}位已经断药。" if overdue else "。"
    text += ("请按时到村卫生室或定点药店续药，不要断药；行动不便的，可以请村医代购药。"
             "门诊慢特病卡每月使用，待遇才能落实到位。")
    return text


def _custom_text(ws: Workspace, session, village_code: str, text: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise ValidationError("自定义广播稿是空的。")
    if len(text) > MAX_CUSTOM_CHARS:
        raise ValidationError(f"自定义广播稿不能超过 {MAX_CUSTOM_CHARS} 个字（现有 {len(text)} 字）。")
    # A loudspeaker is public: a script must never name a villager (PIPL, minimum disclosure).
    names = session.scalars(select(Resident.name).where(
        Resident.village_code == village_code, Resident.deleted.is_(False), func.length(Resident.name) >= 2).distinct())
    named = sorted({name for name in names if name in text})
    if named:
        raise ValidationError(f"广播稿中出现了本村居民的姓名（{'、'.join(named[:3])}），广播不能点名，请删去后再生成。")
    return spoken.speakable(text)


def build_script(ws: Workspace, actor: Actor, kind: str, village_code: str, *, custom_text: str = "",
                 today: date | None = None) -> Script:
    """The words for one broadcast in one village, numbers already in spoken form."""
    today = today or date.today()
    if kind not in KINDS:
        raise ValidationError(f"广播类型应为 {'、'.join(f'{k}（{v}）' for k, v in KIND_LABELS.items())}。")
    if ws.station is None:
        raise ValidationError("本站尚未完成设置，不能生成广播。")
    with ws.read() as session:
        check_village(session, actor, village_code)
        village = session.scalar(select(Place).where(Place.code == village_code, Place.level == "village"))
        if village is None:
            raise ValidationError(f"找不到村：{village_code}（应为 12 位村代码）")
        village_name = village.name
        if kind == "policy":
            year = default_year(ws, today)
            if year is None:
                raise ValidationError("县医保局尚未下发缴费年度，不能生成政策广播。")
            text = _policy_text(ws, session, village_name, year, today)
        elif kind == "custom":
            text = _custom_text(ws, session, village_code, custom_text)
        else:
            text = None
    if kind == "unpaid":
        text = _unpaid_text(ws, actor, village_code, village_name, today)
    elif kind == "refill":
        text = _refill_text(ws, actor, village_code, village_name, today)
    return Script(kind, village_code, village_name, text)


# ---------------------------------------------------------------------------- speech


class SpeechUnavailable(ValidationError):
    pass


def _espeak_binary() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


def _synthesize_espeak(text: str, out: Path) -> None:
    binary = _espeak_binary()
    assert binary
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as handle:
        handle.write(text)
        script_file = handle.name
    try:
        done = subprocess.run([binary, "-v", "cmn", "-s", str(ESPEAK_RATE), "-f", script_file, "-w", str(out)],
                              capture_output=True, timeout=600)
    finally:
        os.unlink(script_file)
    if done.returncode != 0 or not out.exists():
        raise SpeechUnavailable("语音合成失败（espeak-ng）：" + done.stderr.decode("utf-8", "replace")[:200])


def _synthesize_pyttsx3(text: str, out: Path) -> None:
    try:
        import pyttsx3
    except ImportError:
        raise SpeechUnavailable("没有安装语音合成组件（pyttsx3），请重新安装本程序。") from None
    engine = pyttsx3.init()
    chinese = None
    for voice in engine.getProperty("voices") or []:
        described = f"{voice.id} {voice.name} {voice.languages}".lower()
        if any(tag in described for tag in ("zh", "chinese", "cmn", "huihui", "kangkang", "yaoyao", "0804")):
            chinese = voice.id
            break
    if chinese is None:
        raise SpeechUnavailable("本机没有中文语音库。请在 Windows 设置 → 时间和语言 → 语音 中添加“中文(简体)”语音。")
    engine.setProperty("voice", chinese)
    engine.setProperty("rate", 170)
    with contextlib.redirect_stdout(io.StringIO()):  # the espeak driver prints "Audio saved"
        engine.save_to_file(text, str(out))
        engine.runAndWait()
    if not out.exists() or out.stat().st_size <= 44:
        raise SpeechUnavailable("语音合成没有生成声音文件。")


def synthesize(text: str, out: Path) -> str:
    """Speak ``text`` into a WAV file; returns the engine used.

    Windows: pyttsx3 → SAPI5 (a Chinese voice ships with Chinese Windows). Elsewhere: the
    espeak-ng command line when present (deterministic, used by the tests), else pyttsx3.
    """
    if sys.platform == "win32" or _espeak_binary() is None:
        _synthesize_pyttsx3(text, out)
        return "pyttsx3"
    _synthesize_espeak(text, out)
    return "espeak-ng"


def normalise_wav(source: Path, target: Path) -> float:
    """Mono 16-bit, ends trimmed of silence, padded, peak at -1 dBFS; returns the seconds."""
    with wave.open(str(source), "rb") as reader:
        channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    if width != 2:
        raise SpeechUnavailable("语音合成输出的格式不受支持（需要 16 位 PCM）。")
    samples = array.array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":
        samples.byteswap()
    if channels > 1:  # keep the first channel: the loudspeaker is mono
        samples = array.array("h", samples[::channels])
    first = next((i for i, s in enumerate(samples) if abs(s) > SILENCE_LEVEL), None)
    if first is not None:
        last = len(samples) - next(i for i, s in enumerate(reversed(samples)) if abs(s) > SILENCE_LEVEL)
        samples = samples[max(0, first - rate // 20): last + rate // 20]
    peak = max(max(samples, default=0), -min(samples, default=0))
    if peak:
        gain = PEAK_TARGET / peak  # never clips: |s| <= peak, so |s * gain| <= PEAK_TARGET
        samples = array.array("h", [int(s * gain) for s in samples])
    pad = array.array("h", bytes(2 * int(rate * PAD_SECONDS)))
    out = pad + samples + pad
    if sys.byteorder == "big":
        out.byteswap()
    tmp = target.with_name(target.name + ".part")
    with wave.open(str(tmp), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(out.tobytes())
    os.replace(tmp, target)
    return len(out) / rate


def _mp3(wav: Path) -> Path | None:
    """An MP3 beside the WAV where an encoder is installed (many loudspeaker players want MP3)."""
    mp3 = wav.with_suffix(".mp3")
    if shutil.which("lame"):
        args = ["lame", "--quiet", "-V4", str(wav), str(mp3)]
    elif shutil.which("ffmpeg"):
        args = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-q:a", "4", str(mp3)]
    else:
        return None
    done = subprocess.run(args, capture_output=True, timeout=600)
    return mp3 if done.returncode == 0 and mp3.exists() else None


def check_output_path(out: str | Path) -> Path:
    """A writable .wav path, or a Chinese message (never a traceback)."""
    out = Path(out)
    if out.suffix.lower() != ".wav":
        raise ValidationError("输出文件应以 .wav 结尾。")
    if out.is_dir():
        raise ValidationError(f"输出位置是一个文件夹，请给出文件名：{out}")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValidationError(f"不能在此处创建文件：{parent} 不是文件夹。") from None
    except OSError as error:
        raise ValidationError(f"不能创建文件夹 {parent}：{error.strerror or error}") from None
    if not os.access(parent, os.W_OK):
        raise ValidationError(f"没有写入权限：{parent}")
    return out


def make_broadcast(ws: Workspace, actor: Actor, kind: str, village_code: str, out: str | Path, *,
                   custom_text: str = "", today: date | None = None) -> BroadcastResult:
    """Script → speech → normalised WAV (+ MP3 where possible), the script saved beside it."""
    out = check_output_path(out)
    script = build_script(ws, actor, kind, village_code, custom_text=custom_text, today=today)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        engine = synthesize(script.text, raw)
        try:
            seconds = normalise_wav(raw, out)
        except (wave.Error, EOFError) as error:
            raise SpeechUnavailable(f"语音合成输出无法读取：{error}") from None
    text_path = out.with_suffix(".txt")
    text_path.write_text(script.text + "\n", encoding="utf-8")
    logger.info("broadcast %s for %s: %.1f s via %s", kind, village_code, seconds, engine)
    return BroadcastResult(script, out, text_path, _mp3(out), seconds, engine)
