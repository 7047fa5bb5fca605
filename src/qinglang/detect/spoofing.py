"""sivt.automation in any log with a visitor cookie: one visitor, one session, two user agents.

A person's browser sends the same user-agent string on every request of a visit. A bot framework
that spoofs the user agent per page or per browser context often leaves requests that the
browser makes on its own (a beacon sent as the page is hidden, a service worker, a prefetch)
with its real one. Seen in Playwright-driven Chromium (`scripts/realbots`): the stealth and
mobile kits' pages say one thing and their pagehide beacons another.

* session.ua_switch - every event of a session whose visitor cookie (``visitor_id``) sent more
  than one distinct user agent within the session (``session_gap_minutes``). Sessions keyed by
  IP + user agent cannot show it. A browser update changes the string between visits, not within
  one; a person opening the same cookie jar in two browsers is the case this can get wrong.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings
from qinglang.features.sessions import materialize_sessions

NAME = "spoofing"
CATEGORY = "sivt.automation"
CHECKS = (Check("session.ua_switch", ("visitor_id", "user_agent")),)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if not run:
        return findings
    materialize_sessions(ctx)
    findings.queries.append(
        "SELECT m.rid, 'session.ua_switch' AS reason, 0.75 AS score FROM session_map m "
        "JOIN session_features f ON f.skey = m.skey AND f.sno = m.sno WHERE f.ua_switch"
    )
    return findings
