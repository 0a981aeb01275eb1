"""应知尽知 beyond the board: the self-query kiosk, loudspeaker audio, and 政策问答 from the command line."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from .main import db_path_of, open_set_up_station




def cmd_kiosk(args) -> int:
    from station_app.ui.kiosk import run_kiosk

    return run_kiosk(db_path_of(args), windowed=args.windowed)


def _read_text(path: str) -> str:
    from station_app.domain.errors import ValidationError

    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"找不到广播稿文件：{file}")
    for encoding in ("utf-8-sig", "gb18030"):  # Notepad on a Chinese Windows saves GBK by default
        try:
            return file.read_text(encoding=encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError("广播稿文件不是文本文件（应为 UTF-8 或 GBK 编码）。")


def cmd_broadcast(args) -> int:
    from station_app.domain.errors import ValidationError
    from station_app.services import broadcast
    from station_app.services.notices import actor_for

    if args.kind == "custom" and not args.text:
        raise ValidationError("自定义广播需要用 --text 指定广播稿文件。")
    custom = _read_text(args.text) if args.text else ""
    today = None
    if args.date:
        try:
            today = date.fromisoformat(args.date)
        except ValueError:
            raise ValidationError("日期格式应为 YYYY-MM-DD。") from None
    broadcast.check_output_path(args.out)
    ws = open_set_up_station(args, "生成广播")
    try:
        actor = actor_for(ws, args.user)
        result = broadcast.make_broadcast(ws, actor, args.kind, args.village, args.out, custom_text=custom,
                                          today=today)
    finally:
        ws.close()
    print(f"广播稿：{result.text_path}")
    print(result.script.text)
    extra = f"，MP3：{result.mp3_path}" if result.mp3_path else ""
    print(f"已生成 {result.wav_path}（{result.seconds:.1f} 秒，{result.engine}）{extra}")
    return 0


def cmd_qa(args) -> int:
    from station_app.services import policy_qa

    ws = open_set_up_station(args, "查询政策问答")
    try:
        items = policy_qa.qa_items(ws)
        hits = policy_qa.search(items, " ".join(args.words or []), topic=args.topic or "")
    finally:
        ws.close()
    if not hits:
        print("没有找到相关问答。", file=sys.stderr)
        return 1
    for item in hits[: args.limit]:
        basis = f"（{item.basis}）" if item.basis else ""
        print(f"【{item.topic}】{item.question}\n    {item.answer}{basis}\n")
    return 0


def register(sub) -> None:
    from station_app.services.broadcast import KIND_LABELS, KINDS
    from station_app.services.policy_qa import TOPICS

    kiosk = sub.add_parser("kiosk", help="自助查询机：全屏，居民输入姓名和身份证号后6位查看本户情况（管理员密码退出）")
    kiosk.add_argument("--windowed", action="store_true", help="以窗口方式运行（调试、截图用）")
    kiosk.set_defaults(func=cmd_kiosk)

    speaker = sub.add_parser("broadcast", help="生成村广播（流动喇叭）音频：政策、催缴、续药提醒或自定义稿")
    speaker.add_argument("kind", choices=KINDS, metavar="{" + "|".join(KINDS) + "}",
                         help="，".join(f"{k}={v}" for k, v in KIND_LABELS.items()))
    speaker.add_argument("--village", required=True, help="村代码（12位）")
    speaker.add_argument("--text", help="自定义广播稿文件（custom 时必填；不能点名）")
    speaker.add_argument("--out", required=True, help="输出的 WAV 文件；广播稿存为同名 .txt")
    speaker.add_argument("--date", help="“截至”日期（YYYY-MM-DD，默认今天）")
    speaker.add_argument("--user", help="以哪个用户的名义（默认系统）")
    speaker.set_defaults(func=cmd_broadcast)

    qa = sub.add_parser("qa", help="政策问答：按文字或拼音首字母查找")
    qa.add_argument("words", nargs="*", help="查找的词，如 缴费、jf、慢特病")
    qa.add_argument("--topic", choices=TOPICS, help="只看某个主题")
    qa.add_argument("--limit", type=int, default=10, help="最多显示几条（默认10）")
    qa.set_defaults(func=cmd_qa)
