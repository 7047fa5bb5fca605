"""Click-log features: the classic per-entity counts and time to the next click.

For ad-click logs (``event = 'click'``; in the TalkingData layout the user is ``ip|device|os`` in
``visitor_id``, the app is ``target`` and the channel ``source``), each click gets:

| feature | what |
|---|---|
| ``clicks_user_app`` | clicks of the same user on the same app, over the input |
| ``clicks_ip`` | clicks from the same IP |
| ``next_click_user_app_s`` | seconds to the same user's next click on the same app (null: none) |
| ``next_click_ip_channel_s`` | seconds to the next click from the same IP on the same channel |
| ``ip_apps`` | distinct apps clicked from the IP |
| ``device_ips`` | distinct IPs the device clicked from |

``materialize_clicks(engine)`` leaves them in ``click_features`` (rid + these columns), one row per
click; inputs without clicks get an empty table. Portable SQL: DuckDB and Spark agree.
"""

from __future__ import annotations

from qinglang.engine import Engine

CLICK_FEATURES: tuple[tuple[str, str], ...] = (
    ("clicks_user_app", "clicks of the same user on the same app"),
    ("clicks_ip", "clicks from the same IP"),
    ("next_click_user_app_s", "seconds to the same user's next click on the same app"),
    ("next_click_ip_channel_s", "seconds to the next click from the same IP on the same channel"),
    ("ip_apps", "distinct apps clicked from the IP"),
    ("device_ips", "distinct IPs the device clicked from"),
)
CLICK_FEATURE_NAMES = tuple(name for name, _ in CLICK_FEATURES)

CLICK_FEATURES_SQL = """
WITH c AS (SELECT rid, ts, ip, visitor_id, device_id, target, source FROM events
           WHERE event = 'click'),
ip_apps AS (SELECT ip, count(DISTINCT target) AS n FROM c WHERE ip IS NOT NULL GROUP BY ip),
device_ips AS (SELECT device_id, count(DISTINCT ip) AS n FROM c WHERE device_id IS NOT NULL
               GROUP BY device_id)
SELECT c.rid,
       CAST(CASE WHEN c.visitor_id IS NOT NULL THEN
         count(*) OVER (PARTITION BY c.visitor_id, c.target) END AS DOUBLE) AS clicks_user_app,
       CAST(CASE WHEN c.ip IS NOT NULL THEN count(*) OVER (PARTITION BY c.ip) END AS DOUBLE)
         AS clicks_ip,
       CASE WHEN c.visitor_id IS NOT NULL THEN
         (ts_ms(lead(c.ts) OVER (PARTITION BY c.visitor_id, c.target ORDER BY c.ts, c.rid))
          - ts_ms(c.ts)) / 1000.0 END AS next_click_user_app_s,
       CASE WHEN c.ip IS NOT NULL THEN
         (ts_ms(lead(c.ts) OVER (PARTITION BY c.ip, c.source ORDER BY c.ts, c.rid))
          - ts_ms(c.ts)) / 1000.0 END AS next_click_ip_channel_s,
       CAST(a.n AS DOUBLE) AS ip_apps, CAST(d.n AS DOUBLE) AS device_ips
FROM c LEFT JOIN ip_apps a ON a.ip = c.ip LEFT JOIN device_ips d ON d.device_id = c.device_id
"""


def materialize_clicks(engine: Engine) -> None:
    engine.materialize("click_features", CLICK_FEATURES_SQL)
