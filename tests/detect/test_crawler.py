from qinglang.detect import crawler
from tests.conftest import event
from tests.detect.helpers import findings_of


def test_declared_crawlers_and_libraries_are_found_browsers_are_not(make_engine):
    engine = make_engine(
        [
            event(0),
            event(
                1,
                user_agent="Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            ),
            event(2, user_agent="python-requests/2.31.0"),
            event(
                3,
                user_agent="Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
            ),
            event(4, user_agent=None),
            event(6, user_agent="UptimeRobot/2.0 (http://www.uptimerobot.com/)"),
            event(
                7,
                user_agent="facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            ),
            event(
                8,
                user_agent="Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
                "GPTBot/1.2; +https://openai.com/gptbot)",
            ),
            event(9, user_agent="Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers)"),
            event(
                10,
                user_agent="Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            ),
            event(
                5,
                user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40(0x18002831) NetType/WIFI Language/zh_CN",
            ),
        ]
    )
    found = findings_of(crawler, engine)
    assert found == {
        "e0001": {"ua.crawler"},
        "e0002": {"ua.http_library"},
        "e0003": {"ua.crawler"},
        "e0004": {"ua.empty"},
        "e0006": {"ua.monitor"},
        "e0007": {"ua.link_preview"},
        "e0008": {"ua.ai_agent"},
        "e0009": {"ua.feed_reader"},
        "e0010": {"ua.mail_prefetch"},
    }


def test_headless_is_left_to_automation(make_engine):
    engine = make_engine(
        [
            event(
                0,
                user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                "(KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            )
        ]
    )
    assert findings_of(crawler, engine) == {}
