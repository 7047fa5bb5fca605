from qinglang.detect import automation
from tests.conftest import IPHONE, WIN_CHROME, event
from tests.detect.helpers import findings_of

CH_120 = '"Chromium";v="120", "Google Chrome";v="120", "Not?A_Brand";v="99"'


def test_webdriver_headless_and_strong_tells(make_engine):
    engine = make_engine(
        [
            event(0),
            event(1, client={"webdriver": True, "interactions": 0}),
            event(
                2,
                user_agent=WIN_CHROME.replace("Chrome/", "HeadlessChrome/"),
                client={"platform": "Win32", "interactions": 0},
            ),
            event(3, client={"tells": ["cdp_runtime"], "interactions": 0}),
            event(4, client={"tells": ["no_plugins"], "interactions": 0}),  # every phone: benign
            event(
                5, client={"tells": ["permissions_mismatch"], "interactions": 0}
            ),  # one weak tell
            event(6, client={"tells": ["permissions_mismatch", "no_languages"], "interactions": 0}),
        ]
    )
    found = findings_of(automation, engine)
    assert found["e0001"] == {"client.webdriver"}
    assert found["e0002"] == {"ua.headless"}
    assert found["e0003"] == {"client.tell"}
    assert "e0004" not in found and "e0005" not in found  # weak alone never decides
    assert found["e0006"] == {"client.tell"}  # two independent weak tells add up
    assert "e0000" not in found


def test_ua_contradicting_client_hints_and_platform(make_engine):
    engine = make_engine(
        [
            event(0, user_agent=WIN_CHROME, client={"ch_ua": CH_120, "platform": "Win32"}),
            # stealth kit: UA patched to Chrome 120 on Windows, engine is 119 on Linux
            event(
                1,
                user_agent=WIN_CHROME,
                client={"ch_ua": '"Chromium";v="119"', "platform": "Win32"},
            ),
            event(2, user_agent=WIN_CHROME, client={"ch_ua": CH_120, "platform": "Linux x86_64"}),
            # iOS browsers send no client hints at all
            event(3, user_agent=IPHONE, client={"ch_ua": CH_120, "platform": "iPhone"}),
            # Chinese Chromium browsers have their own brand lists: fine if the engine version agrees
            event(
                4,
                user_agent=WIN_CHROME + " QQBrowser/12.0",
                client={"ch_ua": '"Chromium";v="120", "Not A(Brand";v="24"', "platform": "Win32"},
            ),
            # Android emulator: a phone UA on an x86 platform
            event(
                5,
                user_agent="Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like "
                "Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
                client={"ch_ua": CH_120, "platform": "Linux x86_64"},
            ),
        ]
    )
    found = findings_of(automation, engine)
    assert found["e0001"] == {"ua.ch_mismatch"}
    assert found["e0002"] == {"ua.platform_mismatch"}
    assert found["e0003"] == {"ua.ch_mismatch"}
    assert found["e0005"] == {"client.emulator"}
    assert "e0000" not in found and "e0004" not in found


def test_server_logs_skip_client_checks_and_say_so(make_engine):
    from qinglang.detect.base import Context
    from qinglang.detect.pipeline import present_columns

    engine = make_engine([event(0, client=None), event(1, client=None)])
    ctx = Context(engine=engine, present=present_columns(engine))
    found = automation.detect(ctx)
    skipped = {check for check, _ in found.checks_skipped}
    assert {"client.webdriver", "client.tell", "ua.ch_mismatch", "ua.platform_mismatch"} <= skipped
    assert "ua.headless" in found.checks_run


def test_swiftshader_person_is_not_a_program(make_engine):
    """Issue 14: people on virtual machines and GPU-less Linux render WebGL in SwiftShader.
    The tell alone is weak (evidence, never a charge); with another weak tell it adds up."""
    linux = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    )
    person = {"tells": ["swiftshader"], "interactions": 6, "platform": "Linux x86_64"}
    engine = make_engine(
        [
            event(0, user_agent=linux, client=dict(person, ch_ua=CH_120)),
            event(1, user_agent=linux, client=dict(person, tells=["swiftshader", "no_plugins"])),
            event(2, user_agent=linux, client=dict(person, tells=["swiftshader", "no_languages"])),
            event(3, user_agent=linux, client=dict(person, tells=["swiftshader", "webdriver"])),
        ]
    )
    found = findings_of(automation, engine)
    assert "e0000" not in found and "e0001" not in found
    assert found["e0002"] == {"client.tell"}  # two weak tells add up
    assert found["e0003"] == {"client.tell"}  # a strong tell decides, SwiftShader or not
    assert "swiftshader" in automation.WEAK_TELLS and "swiftshader" not in automation.STRONG_TELLS


def test_the_client_hints_of_a_server_log(tmp_path, make_engine):
    """An nginx log that records Sec-CH-UA: a Chromium browser under a Firefox user agent, and
    one whose user agent claims another Chrome version, contradict their own header; a Chrome
    that agrees with it and a Firefox that sends none do not. (The brands are as real Chromium
    156 sent them to nginx, escaped quotes and all.)"""
    from qinglang.detect import forgery
    from qinglang.ingest import read_events

    native = r"\x22Not:A-Brand\x22;v=\x228\x22, \x22Chromium\x22;v=\x22156\x22"
    chrome = WIN_CHROME.replace("Chrome/120.0.0.0", "Chrome/156.0.0.0")
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
    lines = [
        (chrome, native),  # agrees
        (firefox, native),  # Chromium under a Firefox UA
        (WIN_CHROME, native),  # claims Chrome 120, engine 156
        (firefox, "-"),  # a real Firefox: no client hints
    ]
    log = tmp_path / "hints.log"
    log.write_text(
        "".join(
            f'1.2.3.{i} - - [01/Sep/2017:10:00:0{i} +0800] "GET /p{i} HTTP/1.1" 200 5 "-" '
            f'"{ua}" "{hints}"\n'
            for i, (ua, hints) in enumerate(lines)
        )
    )
    fmt = (
        '$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
        '"$http_user_agent" "$http_sec_ch_ua"'
    )
    read = read_events([log], fmt="nginx", log_format=fmt)
    engine = make_engine(read.to_reader().read_all().to_pylist())
    found = findings_of(automation, engine)
    assert found == {"hints.log:2": {"ua.ch_mismatch"}, "hints.log:3": {"ua.ch_mismatch"}}
    assert findings_of(forgery, engine) == {}  # a header is no tracker beacon
