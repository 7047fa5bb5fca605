"""User agents of people at the edges stay browsers; look-alikes that are not people do not."""

from __future__ import annotations

import pytest

from qinglang.detect.useragent import classify

# ---- people at the edges (issue 14): desktop apps, text browsers, a mail client's in-app view

PEOPLE_AT_THE_EDGES = {
    "Slack": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.33.73 Chrome/114.0.5735.289 Electron/25.8.1 Safari/537.36",
    "Discord": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) discord/1.0.9013 Chrome/108.0.5359.215 Electron/22.3.2 Safari/537.36",
    "VS Code": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Code/1.85.1 Chrome/114.0.5735.289 Electron/25.9.7 Safari/537.36",
    "Lynx": "Lynx/2.8.9rel.1 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.6.13",
    "Outlook in-app view": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0 Microsoft Outlook",
}
STILL_NOT_PEOPLE = {
    "Electron automation (Nightmare)": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Electron/1.8.8 Safari/537.36",
        "headless",
    ),
    "bare Electron with Chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.0 Electron/28.0.0 Safari/537.36",
        "headless",
    ),
    # issue 14's classes: the prefetcher is a mail service's fetch, Slackbot unfurls a link
    "Outlook's prefetcher": (
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
        "mail_prefetch",
    ),
    "Slackbot": ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "link_preview"),
}


@pytest.mark.parametrize("name", sorted(PEOPLE_AT_THE_EDGES))
def test_people_at_the_edges_are_browsers(name):
    assert classify(PEOPLE_AT_THE_EDGES[name])["kind"] is None


@pytest.mark.parametrize("name", sorted(STILL_NOT_PEOPLE))
def test_what_looks_like_them_but_is_not_a_person_is_still_caught(name):
    ua, kind = STILL_NOT_PEOPLE[name]
    assert classify(ua)["kind"] == kind


# ---- classes of declared bots (issue 14), each its own reason code, and which source matched

CLASSES = {
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "crawler",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)": "crawler",
    "UptimeRobot/2.0 (http://www.uptimerobot.com/)": "monitor",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)": "monitor",
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers; like FeedFetcher-Google)": "feed_reader",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)": "link_preview",
    "TelegramBot (like TwitterBot)": "link_preview",
    "curl/8.4.0": "http_library",
    "python-requests/2.31.0": "http_library",
    "Go-http-client/2.0": "http_library",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)": "ai_agent",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)": "ai_agent",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)": "mail_prefetch",
}


@pytest.mark.parametrize("ua", sorted(CLASSES))
def test_declared_bots_fall_in_their_class(ua):
    info = classify(ua)
    assert info["kind"] == CLASSES[ua]
    assert info["source"]  # which list or rule matched is always said


# The issue's misses: plain shapes no list needs to enumerate (some lists have them now; the
# shape rules catch them either way).
ISSUE_MISSES = [
    "bigsur.ai",
    "Potions/1.0.0",
    "SparkShipping",
    "Mozilla/5.0 (compatible; Noibu; +https://www.noibu.com/)",
    "rss-parser / Buttondown",
    "Amazon CloudFront",
    "scraping@nytimes.com",
]


@pytest.mark.parametrize("ua", ISSUE_MISSES)
def test_the_issues_misses_are_caught(ua):
    assert classify(ua)["kind"] is not None


@pytest.mark.parametrize(
    "ua, rule",
    [
        ("Acme-Fetcher-Zeta/3.2", "rule:name_version"),  # in no list
        ("Mozilla/5.0 (compatible; Zqxwv/1.0; +https://zqxwv.example/about)", "rule:url"),
        ("Zqxwv Harvester contact: ops@zqxwv.example", "rule:url"),
        ("Zqxwv/1.0 (Zqxwv Harvester; Java 17)", "rule:no_browser_token"),
    ],
)
def test_shape_rules_name_themselves(ua, rule):
    from qinglang.detect.useragent import shape_rule

    assert shape_rule(ua) == rule
    assert classify(ua)["kind"] is not None


PEOPLE = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 7.0; C Bot Tab 70) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36",
    "Nokia6230i/2.0 (03.40) Profile/MIDP-2.0 Configuration/CLDC-1.1",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 XiaoHongShu/8.0",
]


@pytest.mark.parametrize("ua", PEOPLE)
def test_browsers_and_phones_are_not_bots(ua):
    assert classify(ua)["kind"] is None


def test_every_bundled_list_says_its_version_and_date():
    from qinglang.detect.useragent import bot_lists, data_sources

    sources = data_sources()
    for name in ("crawlerdetect", "matomo", "crawler-user-agents", "isbot"):
        assert sources[name]["version"], name
    for name in ("matomo", "crawler-user-agents", "isbot"):
        assert sources[name]["date"] and sources[name]["license"], name
    assert [p.source for p in bot_lists()] == [
        "crawlerdetect",
        "matomo",
        "crawler-user-agents",
        "isbot",
    ]
    # every pattern runs: in the RE2 set (loosened) or in Python's re
    for plist in bot_lists():
        assert all(plist.exact(i) is not None for i in range(len(plist.patterns))), plist.source


def test_client_hints_judge_only_what_they_can():
    """A header naming a Chromium engine under a Firefox, Safari or iOS user agent contradicts it;
    a header that names no browser (a log's junk, GREASE alone) says nothing; a user agent that
    names no engine either way (a TV's browser) is not judged; and the browsers that keep a
    Chrome version of their own in the user agent are not held to it."""
    from qinglang.detect.useragent import consistency

    chromium = '"Not:A-Brand";v="8", "Chromium";v="156"'
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
    safari = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15"
    )
    crios = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
    )
    tizen = (
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.5) AppleWebKit/537.36 (KHTML, like Gecko) "
        "94.0.4606.31/7.0 TV Safari/537.36"
    )
    arkweb = (
        "Mozilla/5.0 (Phone; OpenHarmony 5.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile"
    )
    chrome_120 = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    )
    for ua in (firefox, safari, crios):
        assert consistency(ua, chromium, None) == ["ua.ch_mismatch"], ua
        assert consistency(ua, "-   ", None) == [], ua
        assert consistency(ua, '"Not A(Brand";v="24"', None) == [], ua
    assert consistency(tizen, chromium, None) == []
    assert consistency(arkweb, '"Chromium";v="132", "Not?A_Brand";v="24"', None) == []
    assert consistency(chrome_120, chromium, None) == ["ua.ch_mismatch"]
    assert consistency(chrome_120, '"Chromium";v="120", "Not?A_Brand";v="24"', None) == []
