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
    "Outlook's prefetcher": (
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
        "http_library",
    ),
    "Slackbot": ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "crawler"),
}


@pytest.mark.parametrize("name", sorted(PEOPLE_AT_THE_EDGES))
def test_people_at_the_edges_are_browsers(name):
    assert classify(PEOPLE_AT_THE_EDGES[name])["kind"] is None


@pytest.mark.parametrize("name", sorted(STILL_NOT_PEOPLE))
def test_what_looks_like_them_but_is_not_a_person_is_still_caught(name):
    ua, kind = STILL_NOT_PEOPLE[name]
    assert classify(ua)["kind"] == kind
