"""The dashboard's words in English and Chinese; numbers through babel; categories' names from
reasons.py. The language is the `lang` cookie (set by the switch in the header), else Chinese."""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal, format_percent
from starlette.requests import Request

from qinglang.reasons import CATEGORY_TEXT, REASONS

LANGS = ("zh", "en")
_LOCALE = {"zh": "zh_CN", "en": "en"}

WORDS: dict[str, tuple[str, str]] = {  # key: (en, zh)
    "app": ("qinglang dashboard", "清朗 看板"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "user": ("User", "用户"),
    "password": ("Password", "密码"),
    "bad_login": ("Wrong user name or password.", "用户名或密码错误。"),
    "too_many": (
        "Too many failed sign-ins: try again in {m} minutes.",
        "登录失败次数过多，请 {m} 分钟后再试。",
    ),
    "sites": ("Sites", "站点"),
    "no_sites": ("No site is granted to you yet.", "尚未授予您任何站点。"),
    "role": ("Role", "角色"),
    "figures": ("Figures", "数据"),
    "audits": ("Audits", "审计"),
    "users": ("Users", "用户"),
    "pv": ("Page views (PV)", "浏览量 (PV)"),
    "uv": ("Visitors (UV)", "访客 (UV)"),
    "invalid_uv_share": ("Invalid UV share", "无效UV占比"),
    "invalid_pv_share": ("Invalid PV share", "无效PV占比"),
    "category": ("Category", "类别"),
    "share": ("Share of PV", "PV占比"),
    "day": ("Day (UTC)", "日期 (UTC)"),
    "hour": ("Hour (UTC)", "小时 (UTC)"),
    "by_day": ("By day", "按天"),
    "by_hour": ("By hour", "按小时"),
    "period": ("Period", "时段"),
    "labels_from": (
        "Categories from audit {a}; newer events are “unaudited”.",
        "类别来自审计 {a}；其后的事件为“未审计”。",
    ),
    "no_audit": (
        "No audit yet: every event is “unaudited”. Run one on the audits page.",
        "尚无审计：所有事件均为“未审计”。可在审计页运行。",
    ),
    "no_events": ("No stored events yet.", "尚无已存储的事件。"),
    "sources": ("Sources, by invalid share", "来源（按无效占比排序）"),
    "source": ("Source", "来源"),
    "audited_pv": ("Audited PV", "已审计PV"),
    "invalid_pv": ("Invalid PV", "无效PV"),
    "run_audit": ("Run an audit", "运行审计"),
    "from": ("From (YYYY-MM-DD)", "开始 (YYYY-MM-DD)"),
    "to": ("To (YYYY-MM-DD)", "结束 (YYYY-MM-DD)"),
    "price": ("Unit price", "单价"),
    "per": ("per UV", "每多少UV"),
    "currency": ("Currency", "货币"),
    "run": ("Run", "运行"),
    "state": ("State", "状态"),
    "created": ("Started (UTC)", "开始时间 (UTC)"),
    "by": ("Started by", "发起人"),
    "files": ("Files", "文件"),
    "running": ("running", "进行中"),
    "done": ("done", "完成"),
    "failed": ("failed", "失败"),
    "audit": ("Audit", "审计"),
    "headline": ("Headline", "结论"),
    "invalid_uv": ("Invalid UV", "无效UV"),
    "payable": ("Payable", "应付"),
    "reasons": ("Reason codes", "原因代码"),
    "reason": ("Reason", "原因"),
    "events": ("Events", "事件数"),
    "evidence": ("Evidence rows (sampled by the audit)", "证据行（审计抽样）"),
    "no_evidence": ("No evidence rows.", "无证据行。"),
    "grant": ("Grant", "授予"),
    "revoke": ("Revoke", "撤销"),
    "readonly": ("Read-only: audits of {d}", "只读：{d} 中的审计"),
    "queued": ("Audit {a} started.", "审计 {a} 已开始。"),
    "valid": ("valid", "有效"),
    "unaudited": ("unaudited", "未审计"),
    "invalid": ("invalid", "无效"),
    "other": ("(other sources)", "（其他来源）"),
    "back": ("Back", "返回"),
    "time": ("Time", "时间"),
    "sampled_rows": ("Rows in the sample", "样本行数"),
    "source_sampled": (
        "The audit's evidence rows (sampled per reason code) that came from this source.",
        "审计证据样本（按原因代码抽样）中来自该来源的行。",
    ),
    "score": ("Score", "分值"),
}


def lang_of(request: Request) -> str:
    lang = request.cookies.get("lang", "zh")
    return lang if lang in LANGS else "zh"


def translator(lang: str) -> Any:
    i = 0 if lang == "en" else 1

    def t(key: str, **kw: Any) -> str:
        text = WORDS[key][i]
        return text.format(**kw) if kw else text

    return t


def category_name(cat: str, lang: str) -> str:
    if cat in ("valid", "unaudited", "invalid"):
        return translator(lang)(cat)
    text = CATEGORY_TEXT.get(cat)
    return f"{cat}: {text[0 if lang == 'en' else 1]}" if text else cat


def reason_name(code: str, lang: str) -> str:
    r = REASONS.get(code)
    return (r.en if lang == "en" else r.zh) if r else code


def number(n: Any, lang: str) -> str:
    return "–" if n is None else format_decimal(n, locale=_LOCALE[lang])


def percent(x: Any, lang: str) -> str:
    return "–" if x is None else format_percent(x, "#,##0.0%", locale=_LOCALE[lang])
