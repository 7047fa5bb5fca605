"""UI strings (English and Simplified Chinese) and number formatting for the audit renderers.

`t(key, lang)` looks a string up; an unknown key raises KeyError so a typo fails in tests, and a
key missing in Chinese falls back to English. `clean()` makes untrusted text safe to *display*: it
removes control and bidi-override characters (escaping for HTML / rich markup / SVG is done by each
renderer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision

LANGS = ("zh", "en")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "eng_title": "Engagement: bought actions",
        "eng_summary": (
            "{bought} of {actions} actions were bought, on {targets} targets: {cost} at the "
            "platform's action prices, {resale} at {markup}x resale."
        ),
        "eng_prices": "Prices per action:",
        "eng_targets": "Bought actions per target",
        "eng_target": "Target",
        "eng_bought": "Bought",
        "eng_all_actions": "All actions",
        "eng_by_action": "By action",
        "eng_by_group": "By group",
        "eng_cost": "Cost",
        "eng_resale": "Resale",
        "eng_groups": "Groups behind them (evidence)",
        "eng_group": "Group",
        "eng_members": "Accounts",
        "eng_targets_n": "Targets",
        "eng_window": "Time window",
        "eng_sample": "Sample accounts / targets",
        "eng_lift": "{lift}x denser than the rest; {density} of its account-window pairs acted",
        "title": "Traffic audit report",
        "campaign": "Campaign",
        "sites": "Sites",
        "period": "Period",
        "days": "days",
        "generated": "Generated",
        "version": "qinglang version",
        "uv_key": "UV key",
        "headline": "Headline",
        "headline_sentence": (
            "Of {uv} unique visitors (UV) counted, {invalid} ({share}, 95% CI {ci}) are invalid. "
            "Payable: {payable} of {claimed} claimed{settled}."
        ),
        "settled_on_lower": " (settled on the lower 95% bound of the payable amount)",
        "settled_on_upper": " (settled on the upper 95% bound of the payable amount)",
        "settled_on_estimate": "",
        "settled_fallback": " (the estimate: no interval is estimable for a bound)",
        "keyless_pv": (
            "{n} page views ({share} of PV) have neither a visitor id nor an IP address, so "
            "they are in PV but in no UV, and neither paid nor withheld ({invalid} of them "
            "invalid). Map the log's client address or visitor cookie to count them."
        ),
        "proxy_addresses": (
            "{share} of page views come from {n} data-center addresses that each show many "
            "browsers ({top}): the addresses of a CDN or reverse proxy in front of the site, or "
            "a farm rotating user agents. If the site is behind a proxy, its log holds the "
            "proxy's address: log the client's (X-Forwarded-For, X-Real-IP, CF-Connecting-IP) "
            "and map it, or these page views stay charged as data-center traffic."
        ),
        "proxy_address": "{ip}: {pv} page views, {uas} user agents",
        "no_pageviews": (
            "None of the {n} requests is a page view (a successful GET of a page that is no "
            "asset, file or error), so no UV is counted and nothing is paid. A browser asks a "
            "site for its path (GET /page HTTP/1.1): request lines in absolute form (GET "
            "http://host/page, a proxy's), without a protocol, or not HTTP at all are never "
            "page views. If the log's request lines are not what the site received, log "
            "$request as nginx does."
        ),
        "keyless_events": (
            "{n} counted events ({share}) have neither a visitor id nor an IP address, so they "
            "are in no UV, and neither paid nor withheld ({invalid} of them invalid). Map the "
            "input's client address or visitor id to count them."
        ),
        "uv": "Unique visitors (UV)",
        "pv": "Page views (PV)",
        "events": "Events",
        "valid_uv": "Valid UV",
        "invalid_uv": "Invalid UV",
        "invalid_pv": "Invalid PV",
        "invalid_share": "Invalid UV share",
        "ci95": "95% CI",
        "unit_price": "Unit price",
        "per_uv": "per {per} UV",
        "claimed": "Amount claimed",
        "payable": "Amount payable",
        "withheld": "Amount withheld",
        "categories": "Invalid traffic by category",
        "category": "Category",
        "description": "Description",
        "share_of_uv": "Share of UV",
        "daily": "UV per day",
        "day": "Day",
        "valid": "valid",
        "sources": "Sources ranked by invalid share",
        "source": "Source",
        "top_category": "Main category",
        "conversions": "Conversions",
        "conversion_rate": "Conversion rate",
        "evidence": "Evidence samples",
        "evidence_intro": "A few labelled events per reason code; each event id points back to its "
        "input row.",
        "samples_shown": "{shown} of {total} samples shown",
        "ua_matched_by": "declared bot, by",
        "entries": "Entries whose visitors do not go past the first page",
        "entries_intro": "Sessions grouped by how they entered the site (campaign tag, else referring host); a tag's sessions are split by the site or app that referred them, where one brought enough of them to judge on its own (shown as “tag · host”, “(none)” for no referrer; the tag's other sessions together as the tag alone). Where an entry's sessions go on to a second page far less often than the site's people do, part of its traffic is unlike people: at least 1 − ub/b of its sessions (ub: the 95% upper bound of its navigation rate, b: the site's people's, the 75th percentile over entries), 1 − r/b at the estimate. The 95% covers the sampling of the entry's rate only, on the assumption that people from every entry go on as often as b; entries also differ for innocent reasons (a landing page that answers the question, another audience), so the bound is evidence to weigh, not proof. A session that stopped at one page is charged (entry.inert) only where, for its entry, it is more likely than not no person; the rest of the bound is shown here, not charged.",
        "entries_summary": "{count} entries: {sessions} sessions, of which at least {lower} behave unlike the site's people (95%, on the assumption above); {charged} sessions charged one by one.",
        "entry": "Entry",
        "entry_sessions": "Sessions",
        "entry_navigated": "Went on",
        "entry_people_navigated": "People go on",
        "entry_not_people": "Unlike people (95% bound – estimate)",
        "entry_not_people_sessions": "Sessions unlike people",
        "entry_charged": "Charged",
        "event_id": "Event id",
        "time": "Time",
        "ip": "IP",
        "user_agent": "User agent",
        "referrer": "Referrer",
        "url": "URL",
        "reasons": "Reasons",
        "score": "Score",
        "method": "Method",
        "uv_definition": "UV definition",
        "verdict_rule": "Verdict rule",
        "interval_method": "Confidence intervals",
        "reason_codes": "Reason codes",
        "code": "Code",
        "role": "Role",
        "decisive": "decisive",
        "supporting": "supporting",
        "detectors": "Detectors and checks",
        "detector": "Detector",
        "checks_run": "Checks run",
        "checks_skipped": "Checks skipped (missing columns, or why not)",
        "seconds": "Seconds",
        "queries": "Detector queries",
        "settings_table": "Settings and thresholds",
        "uv_note_visitor": "UV = distinct visitor_id per day (IP + user agent for hits without one; a landing hit sent before its cookie was set counts under that cookie when the cookie's first hit, from the same site, address and user agent at most stitch_seconds later, names it as referrer), days in {tz}, summed over the campaign, counted on {what}. A UV is valid when at least one of its counted events is valid.",
        "uv_note_ip": "UV = distinct IP + user agent per day (the input has no visitor id), days in {tz}, summed over the campaign, counted on {what}. A UV is valid when at least one of its counted events is valid.",
        "uv_what_pv": "pageviews",
        "uv_what_all": "all events but requests (the input has no pageviews)",
        "verdict_rule_text": "An event is invalid when any detector finding scores at least 0.5 (a decisive reason); supporting reasons are reported but never invalidate on their own. Its category is that of the decisive reason whose category comes first in the priority order: {order}.",
        "interval_text": "95% intervals come from a cluster bootstrap over (source, day) cells (Poisson weights; resamples with no UV at all are left out): they show how much the shares would move if the campaign's traffic had been drawn again, cell by cell. With fewer than {min_units} cells no interval is estimable and none is shown. Where the detectors' own error was measured, each resample also draws, per category, a precision and a recall from the measured counts (Beta distributions, Jeffreys' prior) and scales that category's flagged UV by how far the drawn precision / recall lies from the measured one: the interval holds the sampling and the uncertainty of the measured error, around the estimate. The measured bias itself (precision below 1: part of what was flagged is valid; recall below 1: part of the invalid traffic was not caught) is stated below and not added to the figures: it was measured on other traffic.",
        "detector_error_text": "Detector error ({profile}): measured on {measured_on}; precision {precision}, recall {recall} ({tp} true positives, {fp} false positives, {fn} missed events; {source}). Measured on events and applied to UV. A simulator's error is not a real site's: give your own labelled data's error with --detector-error FILE (`qinglang evaluate --json`).",
        "detector_error_none": "The detectors' own error is not taken in (--detector-error none): the interval is sampling only.",
        "measured_simulator": "the simulator (case2017, scale {scale}, seeds {seeds})",
        "measured_labelled": "the user's labelled data ({file})",
        "error_profile_tracker": "inputs with the tracker's signals",
        "error_profile_log": "server logs without the tracker's signals",
        "error_profile_any": "the user's own",
        "evidence_method_text": "Evidence rows are drawn at random (a fixed seed, recorded) among each reason's events, one source at a time: the first row of each source, then the second, so that no one source fills the sample. Times are shown in the zone days are counted in.",
        "by_category": "Invalid UV by category",
        "parties": "Parties",
        "buyer": "Buyer",
        "seller": "Seller",
        "contract": "Contract",
        "paid_period": "Period settled",
        "setting": "Setting",
        "value": "Value",
        "statements": "Every statement, in run order",
        "statements_note": "Each table the audit made, as it ran (DuckDB's dialect); lines starting with -- are data computed outside SQL (the inputs as read, user-agent and IP-range lookups, a model's scores). Run on the events table in order, they give the labels above.",
        "inputs": "Input files and checksums",
        "path": "Path",
        "format": "Format",
        "guessed": "guessed",
        "rows_ok": "Rows read",
        "rows_bad": "Rows rejected",
        "rows_sentence": "{read} rows read, {rejected} rejected, {audited} audited. Every rejected row is listed in {file} (file, line, field, reason).",
        "rows_outside": "{n} events outside the settled period ({start} to {end}) were left out.",
        "rows_truncated": "Values cut at their length limit: {cut}.",
        "rows_naive": "{n} timestamps named no time zone and were read as UTC (no --input-tz was given): an assumption of this audit.",
        "first_errors": "First errors",
        "notes": "Notes",
        "evaluation": "Evaluation against ground truth",
        "precision": "Precision",
        "recall": "Recall",
        "f1": "F1",
        "support": "Support",
        "overall": "Overall",
        "uv_share_true": "True invalid UV share",
        "uv_share_estimated": "Estimated invalid UV share",
        "uv_share_error_pp": "Error (percentage points)",
        "reverify": "How to re-verify",
        "reverify_text": (
            "Either party can check and reproduce these numbers. In the audit's directory, "
            "the first command checks every output and input against the manifest (and the "
            "signature) and redoes the audit from the options recorded in audit.json, comparing "
            "every figure and every label; it exits 0 only when all are identical. The second "
            "is the audit command itself, with every option that determines a figure, for "
            "qinglang {version}."
        ),
        "manifest_line": "Manifest SHA-256: {sha}",
        "signer_line": "Signed by the auditor's key {fingerprint}",
        "unsigned_line": "Not signed (audit --sign KEY signs the outputs).",
        "none": "none",
        "chart_daily": "UV per day: valid and invalid by category",
        "chart_sources": "Top sources by invalid UV share",
        "chart_categories": "Invalid UV share by category (95% CI)",
        "chart_lang_note": "Chart labels are in English: no font with Chinese glyphs was found.",
        "footer": "Generated by qinglang {version} at {generated}.",
    },
    "zh": {
        "eng_title": "互动：购买的操作",
        "eng_summary": (
            "共{actions}次操作中有{bought}次为购买所得，涉及{targets}个目标：按平台单价合计{cost}，"
            "按{markup}倍转售价合计{resale}。"
        ),
        "eng_prices": "单次操作价格：",
        "eng_targets": "各目标的购买操作",
        "eng_target": "目标",
        "eng_bought": "购买",
        "eng_all_actions": "全部操作",
        "eng_by_action": "按操作",
        "eng_by_group": "按团伙",
        "eng_cost": "成本",
        "eng_resale": "转售价",
        "eng_groups": "背后的团伙（证据）",
        "eng_group": "团伙",
        "eng_members": "账号数",
        "eng_targets_n": "目标数",
        "eng_window": "时间窗口",
        "eng_sample": "账号/目标示例",
        "eng_lift": "密度为其余部分的{lift}倍；账号-时间窗组合中{density}有操作",
        "title": "流量审计报告",
        "campaign": "投放活动",
        "sites": "站点",
        "period": "统计期间",
        "days": "天",
        "generated": "生成时间",
        "version": "qinglang 版本",
        "uv_key": "UV 判定键",
        "headline": "结论摘要",
        "headline_sentence": (
            "统计的 {uv} 个独立访客（UV）中，{invalid} 个为无效流量"
            "（占比 {share}，95% 置信区间 {ci}）。应付金额 {payable}{settled}，申报金额 {claimed}。"
        ),
        "settled_on_lower": "（按应付金额 95% 置信区间下限结算）",
        "settled_on_upper": "（按应付金额 95% 置信区间上限结算）",
        "settled_on_estimate": "",
        "settled_fallback": "（按估计值结算：无法估计置信区间的上下限）",
        "keyless_pv": (
            "{n} 次页面浏览（占 PV 的 {share}）既无访客 ID 也无 IP 地址，计入 PV 但不计入任何 UV，"
            "既不付费也不扣减（其中 {invalid} 次为无效）。请映射日志中的客户端地址或访客 Cookie 以计入。"
        ),
        "proxy_addresses": (
            "{share} 的页面浏览来自 {n} 个数据中心地址，每个地址都有大量不同的浏览器（{top}）："
            "这可能是站点前端 CDN 或反向代理的地址，也可能是轮换用户代理的刷量机房。"
            "若站点位于代理之后，日志记录的是代理的地址：请记录客户端地址"
            "（X-Forwarded-For、X-Real-IP、CF-Connecting-IP）并映射，"
            "否则这些页面浏览仍按数据中心流量计为无效。"
        ),
        "proxy_address": "{ip}：{pv} 次页面浏览，{uas} 个用户代理",
        "no_pageviews": (
            "{n} 条请求中没有一条是页面浏览（对页面而非静态资源、文件或错误的成功 GET），"
            "因此不计入任何 UV，也无需付费。浏览器向站点请求的是路径（GET /page HTTP/1.1）："
            "绝对形式的请求行（GET http://host/page，代理所用）、无协议版本的请求行"
            "或非 HTTP 内容都不算页面浏览。若日志中的请求行并非站点实际收到的，"
            "请按 nginx 的方式记录 $request。"
        ),
        "keyless_events": (
            "{n} 条计入的事件（占 {share}）既无访客 ID 也无 IP 地址，不计入任何 UV，"
            "既不付费也不扣减（其中 {invalid} 条为无效）。请映射输入中的客户端地址或访客 ID 以计入。"
        ),
        "uv": "独立访客（UV）",
        "pv": "浏览量（PV）",
        "events": "事件数",
        "valid_uv": "有效 UV",
        "invalid_uv": "无效 UV",
        "invalid_pv": "无效 PV",
        "invalid_share": "无效 UV 占比",
        "ci95": "95% 置信区间",
        "unit_price": "单价",
        "per_uv": "每 {per} 个 UV",
        "claimed": "申报金额",
        "payable": "应付金额",
        "withheld": "扣减金额",
        "categories": "无效流量分类",
        "category": "类别",
        "description": "说明",
        "share_of_uv": "占 UV 比例",
        "daily": "每日 UV",
        "day": "日期",
        "valid": "有效",
        "sources": "流量来源（按无效占比排序）",
        "source": "来源",
        "top_category": "主要类别",
        "conversions": "转化数",
        "conversion_rate": "转化率",
        "evidence": "证据样本",
        "evidence_intro": "每个原因代码列出若干被标记的事件；事件 ID 可追溯到输入文件中的原始行。",
        "samples_shown": "显示 {shown} 条，共 {total} 条",
        "ua_matched_by": "自报爬虫，依据",
        "entries": "访客几乎不浏览第二页的入口",
        "entries_intro": "按进入站点的方式（推广标记，否则来源站点）对会话分组；同一推广标记的会话再按带来它们的站点或应用细分，只要该来源的会话足以单独判断（显示为“标记 · 来源”，“(none)”表示无来源页；该标记的其余会话合为一组，只显示标记）。某入口的会话继续浏览第二页的比例远低于本站真人时，其流量中有一部分不像真人：至少占其会话的 1 − ub/b（ub：该入口继续浏览率的 95% 上界，b：本站真人的继续浏览率，即各入口的第 75 百分位），点估计为 1 − r/b。95% 只涵盖该入口浏览率的抽样误差，并假定来自每个入口的真人都以 b 的比例继续浏览；入口之间也可能因正当原因不同（落地页已解答问题、受众不同），因此该下限是需要权衡的证据，而非定论。只浏览一页的会话，仅当在其入口中它更可能不是真人时才按 entry.inert 计为无效；下限中其余部分仅在此列示，不计费。",
        "entries_summary": "{count} 个入口：共 {sessions} 个会话，其中至少 {lower} 个的行为不像本站真人（95%，基于上述假定）；逐个计为无效的会话 {charged} 个。",
        "entry": "入口",
        "entry_sessions": "会话",
        "entry_navigated": "继续浏览",
        "entry_people_navigated": "真人继续浏览",
        "entry_not_people": "不像真人（95% 下限 – 估计）",
        "entry_not_people_sessions": "不像真人的会话",
        "entry_charged": "已计无效",
        "event_id": "事件 ID",
        "time": "时间",
        "ip": "IP",
        "user_agent": "用户代理（UA）",
        "referrer": "来源页（Referrer）",
        "url": "URL",
        "reasons": "原因代码",
        "score": "评分",
        "method": "方法说明",
        "uv_definition": "UV 定义",
        "verdict_rule": "判定规则",
        "interval_method": "置信区间计算方法",
        "reason_codes": "原因代码表",
        "code": "代码",
        "role": "作用",
        "decisive": "决定性",
        "supporting": "辅助",
        "detectors": "检测器与检查项",
        "detector": "检测器",
        "checks_run": "已执行检查",
        "checks_skipped": "跳过的检查（缺少的字段或原因）",
        "seconds": "耗时（秒）",
        "queries": "检测 SQL 查询",
        "settings_table": "设置与阈值",
        "uv_note_visitor": "UV = 每天不同的 visitor_id（无 visitor_id 的请求按 IP + 用户代理；在 Cookie 设置之前发出的着陆请求，若该 Cookie 的首个请求在 stitch_seconds 秒内来自同一站点、地址和用户代理，并以该请求为来源页，则计入该 Cookie），日期按 {tz} 计算，整个推广期逐日相加，计于{what}。一个 UV 只要有一个被计入的事件有效即为有效。",
        "uv_note_ip": "UV = 每天不同的 IP + 用户代理（输入中没有 visitor_id），日期按 {tz} 计算，整个推广期逐日相加，计于{what}。一个 UV 只要有一个被计入的事件有效即为有效。",
        "uv_what_pv": "页面浏览（pageview）",
        "uv_what_all": "除请求外的全部事件（输入中没有页面浏览）",
        "verdict_rule_text": "任一检测结果得分不低于 0.5（决定性原因）的事件判为无效；辅助性原因会列出，但单独不会使事件无效。事件的类别取其决定性原因中优先级最高的类别，优先级顺序为：{order}。",
        "interval_text": "95% 置信区间来自按（来源，日期）单元的整群自助法（泊松权重；不含任何 UV 的重抽样不计）：表示若推广期流量按单元重新抽取，占比会有多大变动。单元少于 {min_units} 个时无法估计区间，不予显示。在测得检测器自身误差的情况下，每次重抽样还按类别从测得的计数中抽取一个精确率和一个召回率（Beta 分布，Jeffreys 先验），并按抽得的 精确率 / 召回率 与测得值之比缩放该类别判为无效的 UV：区间包含抽样误差与所测误差本身的不确定性，以估计值为中心。测得的偏差（精确率低于 1：部分判为无效的流量其实有效；召回率低于 1：部分无效流量未被发现）在下文列示，不计入数字：它是在其他流量上测得的。",
        "detector_error_text": "检测器误差（{profile}）：测量于 {measured_on}；精确率 {precision}，召回率 {recall}（真阳性 {tp} 个事件，假阳性 {fp} 个，漏检 {fn} 个；来源 {source}）。误差按事件测量，用于 UV。模拟器上的误差不等于真实网站的误差：可用 --detector-error FILE 提供贵方有标注数据的误差（qinglang evaluate --json 的输出）。",
        "detector_error_none": "未计入检测器自身的误差（--detector-error none）：区间仅反映抽样误差。",
        "measured_simulator": "模拟器（case2017，规模 {scale}，随机种子 {seeds}）",
        "measured_labelled": "用户提供的标注数据（{file}）",
        "error_profile_tracker": "含统计脚本信号的输入",
        "error_profile_log": "不含统计脚本信号的服务器日志",
        "error_profile_any": "用户自测",
        "evidence_method_text": "证据样本在每个原因代码的事件中随机抽取（固定并记录的随机种子），按来源轮流抽取：先取每个来源的第一条，再取第二条，以免单一来源占满样本。时间按计算日期所用的时区显示。",
        "by_category": "各类无效 UV",
        "parties": "当事方",
        "buyer": "买方",
        "seller": "卖方",
        "contract": "合同",
        "paid_period": "结算期",
        "setting": "设置",
        "value": "取值",
        "statements": "按运行顺序列出的全部语句",
        "statements_note": "审计生成的每张表，按实际运行顺序列出（DuckDB 方言）；以 -- 开头的行是在 SQL 之外计算的数据（读入的输入、用户代理和 IP 段查询、模型评分）。在事件表上依次运行即可得到上述判定。",
        "inputs": "输入文件校验和",
        "path": "路径",
        "format": "格式",
        "guessed": "自动识别",
        "rows_ok": "读取行数",
        "rows_bad": "拒绝行数",
        "rows_sentence": "共读取 {read} 行，拒绝 {rejected} 行，审计 {audited} 行。所有被拒绝的行均列于 {file}（文件、行号、字段、原因）。",
        "rows_outside": "结算期（{start} 至 {end}）以外的 {n} 条事件未计入。",
        "rows_truncated": "超出长度上限而被截断的值：{cut}。",
        "rows_naive": "{n} 个时间戳未注明时区，按 UTC 读取（未给出 --input-tz）：这是本次审计的一项假设。",
        "first_errors": "前几条错误",
        "notes": "备注",
        "evaluation": "对照真实标签的准确性评估",
        "precision": "精确率",
        "recall": "召回率",
        "f1": "F1",
        "support": "样本数",
        "overall": "总体",
        "uv_share_true": "真实无效 UV 占比",
        "uv_share_estimated": "估计无效 UV 占比",
        "uv_share_error_pp": "误差（百分点）",
        "reverify": "复核方法",
        "reverify_text": (
            "双方均可核对并复现上述数字。在审计输出目录中，第一条命令按清单（及签名）核对每个输出"
            "和输入文件，并按 audit.json 中记录的选项重新运行审计，逐项比较所有数字和每条判定；"
            "只有完全一致时才以 0 退出。第二条是审计命令本身，包含决定数字的全部选项"
            "（qinglang {version}）。"
        ),
        "manifest_line": "清单 SHA-256：{sha}",
        "signer_line": "审计方密钥签名：{fingerprint}",
        "unsigned_line": "未签名（audit --sign KEY 可为输出签名）。",
        "none": "无",
        "chart_daily": "每日 UV：有效与各类无效流量",
        "chart_sources": "无效 UV 占比最高的来源",
        "chart_categories": "各类无效 UV 占比（95% 置信区间）",
        "chart_lang_note": "图表标签使用英文：系统中未找到中文字体。",
        "footer": "由 qinglang {version} 于 {generated} 生成。",
    },
}


def t(key: str, lang: str = "zh") -> str:
    """The UI string `key` in `lang` ('zh' or 'en'); falls back to English, KeyError if unknown."""
    table = STRINGS.get(lang, STRINGS["en"])
    return table[key] if key in table else STRINGS["en"][key]


# C0/C1 controls (but tab and newline) and bidi overrides/isolates that could reorder shown text.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: object, limit: int | None = None) -> str:
    """Untrusted value -> displayable text: None -> '', control chars -> U+FFFD, optionally cut."""
    text = "" if value is None else str(value)
    text = _UNSAFE.sub("\ufffd", text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def fmt_int(value: object) -> str:
    """12345 -> '12,345'; None -> '—'."""
    if value is None:
        return "—"
    return f"{round(float(value)):,}"  # type: ignore[arg-type]


def fmt_pct(value: object, digits: int = 1) -> str:
    """0.4 -> '40.0%'; a tiny non-zero share -> '<0.1%' rather than '0.0%'; None -> '—'."""
    if value is None:
        return "—"
    pct = float(value) * 100  # type: ignore[arg-type]
    smallest = 10.0**-digits
    if 0 < abs(pct) < smallest / 2:
        return f"{'<' if pct > 0 else '>-'}{smallest:.{digits}f}%"
    return f"{pct:.{digits}f}%"


def fmt_money(value: object, currency: str = "") -> str:
    """'18480' or 18480 -> '18,480.00' (with ' CNY' when a currency is given: as many decimals
    as the currency's minor unit); None -> '—'. Decimal text stays exact."""
    if value is None:
        return "—"
    places = get_currency_precision(currency) if currency else 2
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return clean(value)
    text = f"{amount:,.{places}f}"
    return f"{text} {currency}" if currency else text


def fmt_ts(value: object) -> str:
    """'2017-09-01T08:15:02Z' -> '2017-09-01 08:15:02Z' (so it wraps between date and time)."""
    text = clean(value)
    return text.replace("T", " ", 1) if re.match(r"\d{4}-\d\d-\d\dT", text) else text


def fmt_range(pair: Sequence[object] | None, fmt=fmt_pct) -> str:
    """[0.39, 0.41] -> '39.0%–41.0%' using `fmt` for each end; None -> '—'."""
    if not pair or len(pair) != 2 or pair[0] is None or pair[1] is None:
        return "—"
    return f"{fmt(pair[0])}–{fmt(pair[1])}"
