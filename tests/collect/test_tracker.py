from qinglang.collect.app import SOURCE, TRACKER


def test_the_tracker_served_is_minified_and_under_6_kb():
    assert len(TRACKER.encode()) < 6 * 1024
    assert len(TRACKER) < len(SOURCE)
    assert TRACKER.count("__QL_CONFIG__") == 1  # the one place /t.js puts site and token


def test_the_tracker_emits_the_tell_codes_the_automation_detector_knows():
    from qinglang.detect.automation import BENIGN_TELLS, STRONG_TELLS, WEAK_TELLS

    emitted = {
        "webdriver", "headless_ua", "headless_ch", "cdp_runtime", "worker_ua_mismatch",
        "worker_platform_mismatch", "headless_window", "selenium_vars", "playwright_binding",
        "puppeteer_binding", "phantom", "swiftshader", "no_plugins",
    }  # fmt: skip
    for code in emitted:
        assert f'"{code}"' in SOURCE, code
    # swiftshader is weak: people on VMs and GPU-less Linux render with it too (issue 14)
    assert emitted - {"swiftshader"} <= set(STRONG_TELLS) | set(BENIGN_TELLS)
    assert "swiftshader" in WEAK_TELLS


def test_every_tell_the_tracker_can_send_is_one_the_detector_documents():
    import re

    from qinglang.detect.automation import BENIGN_TELLS, STRONG_TELLS, WEAK_TELLS

    sent = set(re.findall(r'tell\("([a-z_]+)"\)', SOURCE))
    assert len(sent) >= 15
    # the contract's list (collect/contract.json) is exactly what the tracker can send
    documented = set(STRONG_TELLS) | set(BENIGN_TELLS) | set(WEAK_TELLS)
    assert sent == documented, (sent - documented, documented - sent)
