"""sivt.automation in any log with a visitor cookie: one visitor, one session, two user agents.

A person's browser sends the same user-agent string on every request of a visit. A bot framework
that spoofs the user agent per page or per browser context often leaves requests that the
browser makes on its own (a beacon sent as the page is hidden, a service worker, a prefetch)
with its real one. Seen in Playwright-driven Chromium (`scripts/realbots`): the stealth and
mobile kits' pages say one thing and their pagehide beacons another.

* session.ua_switch - every event of a session whose visitor cookie (``visitor_id``) sent more
  than one distinct user agent within the session (``session_gap_minutes``). Sessions keyed by
  IP + user agent cannot show it. A browser update changes the string between visits, not within
  one.

Two switches people make are left alone:

* the network in an in-app browser's user agent: WeChat, QQ and other apps write the connection
  (``NetType/WIFI``, ``NetType/4G``) into it, and it changes as the phone moves. A session whose
  user agents are all one once that token is taken out is not charged;
* a phone's browser asked for the desktop site: Chrome, Samsung Internet or Firefox on Android
  then send a desktop Linux user agent (``X11; Linux``), Safari and Chrome on iOS a Mac one
  (``Macintosh;``). A session whose two user agents are one phone's and one desktop's, of the
  same browser (its family without "Mobile") and the same Chromium version, from Android to
  Linux or from iOS to a Mac, neither a declared bot, and *each of which asked for a page*, is
  not charged. That last condition is what a bot does not meet: its pages come under the user
  agent it claims and only the browser's own requests (beacons) under the other.

A bot whose page views themselves come under both, the pair above, is missed. Still wrong: a
person who opens the same cookie jar in two browsers within one visit.
"""

from __future__ import annotations

from qinglang.detect.base import Check, Context, Findings
from qinglang.detect.crawler import UA_INFO
from qinglang.features.sessions import materialize_sessions

NAME = "spoofing"
CATEGORY = "sivt.automation"
CHECKS = (Check("session.ua_switch", ("visitor_id", "user_agent")),)

# The switched sessions that are one of the two switches people make (see above).
INNOCENT_SWITCH_SQL = """
WITH switched AS (SELECT skey, sno FROM session_features WHERE ua_switch),
uas AS (
  SELECT m.skey, m.sno, e.user_agent,
         max(CASE WHEN e.event = 'pageview' THEN 1 ELSE 0 END) AS paged,
         CASE WHEN e.user_agent LIKE 'Mozilla/5.0 (Macintosh;%' THEN 'mac'
              WHEN e.user_agent LIKE 'Mozilla/5.0 (X11; Linux%' THEN 'linux' END AS desktop
  FROM switched s JOIN session_map m ON m.skey = s.skey AND m.sno = s.sno
  JOIN events e ON e.rid = m.rid WHERE e.user_agent IS NOT NULL
  GROUP BY m.skey, m.sno, e.user_agent),
kinds AS (
  SELECT u.skey, u.sno, count(*) AS n, min(u.paged) AS all_paged,
         count(DISTINCT regexp_replace(u.user_agent, ' NetType/[^ ]*', '')) AS apart_from_network,
         sum(CASE WHEN i.kind IS NULL AND i.mobile AND u.desktop IS NULL THEN 1 ELSE 0 END)
           AS phones,
         sum(CASE WHEN i.kind IS NULL AND u.desktop IS NOT NULL THEN 1 ELSE 0 END) AS desktops,
         count(DISTINCT trim(replace(coalesce(i.browser, ''), 'Mobile', ''))) AS browsers,
         count(DISTINCT coalesce(i.chromium_major, -1)) AS versions,
         max(CASE WHEN u.desktop IS NULL THEN i.os_family END) AS phone_os,
         max(u.desktop) AS desktop
  FROM uas u LEFT JOIN ua_info i ON i.user_agent = u.user_agent
  GROUP BY u.skey, u.sno)
SELECT skey, sno FROM kinds
WHERE apart_from_network = 1
   OR (n = 2 AND all_paged = 1 AND phones = 1 AND desktops = 1 AND browsers = 1
       AND versions = 1
       AND ((phone_os = 'Android' AND desktop = 'linux') OR (phone_os = 'iOS' AND desktop = 'mac')))
"""


def prepare(ctx: Context) -> None:
    if ctx.has("visitor_id", "user_agent"):
        ctx.prefetch(*UA_INFO)


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if not run:
        return findings
    materialize_sessions(ctx)
    ctx.lookup(*UA_INFO)
    ctx.engine.materialize("ua_switch_innocent", INNOCENT_SWITCH_SQL)
    findings.queries.append(
        "SELECT m.rid, 'session.ua_switch' AS reason, 0.75 AS score FROM session_map m "
        "JOIN session_features f ON f.skey = m.skey AND f.sno = m.sno "
        "LEFT JOIN ua_switch_innocent d ON d.skey = f.skey AND d.sno = f.sno "
        "WHERE f.ua_switch AND d.skey IS NULL"
    )
    return findings
