/* qinglang tracker: measures what a person could have seen and done on this page, and which
   automation tells the browser shows. No fingerprint leaves the page: only sizes, times, counts,
   flags and tell codes (the collector hashes what it keeps). No dependencies. */
(function () {
  "use strict";
  var C = __QL_CONFIG__;
  var w = window, d = document, n = navigator, cs = d.currentScript;
  var base = cs && cs.src ? cs.src.replace(/\/t\.js(\?.*)?$/, "") : "";
  var P = w.performance;
  function now() { return Math.round(P && P.now ? P.now() : Date.now()); }
  function rid() {
    var a = new Uint8Array(12), s = "", i;
    if (w.crypto && crypto.getRandomValues) crypto.getRandomValues(a);
    else for (i = 0; i < 12; i++) a[i] = Math.random() * 256;
    for (i = 0; i < 12; i++) s += (a[i] + 256).toString(16).slice(1);
    return s;
  }
  var vid = null;
  try {
    vid = localStorage.getItem("_qlv");
    if (!vid) { vid = rid(); localStorage.setItem("_qlv", vid); }
  } catch (e) { vid = null; }
  var pv = rid(), seq = 0, framed = true;
  try { framed = w.self !== w.top; } catch (e) { framed = true; }
  var ao = null;
  if (location.ancestorOrigins) ao = Array.prototype.slice.call(location.ancestorOrigins, 0, 16);

  /* ---- time actually visible: Page Visibility x IntersectionObserver (v2 isVisible if any) */
  var shown = d.visibilityState !== "hidden", inView = !framed, clear = true;
  var visMs = 0, since = null;
  function on() { return shown && inView && clear; }
  function tick() {
    var t = now();
    if (since !== null) visMs += t - since;
    since = on() ? t : null;
  }
  tick();
  d.addEventListener("visibilitychange", function () {
    tick(); shown = d.visibilityState !== "hidden"; tick();
    if (!shown) bye(); else gone = false;
  });
  if (w.IntersectionObserver) {
    var v2 = w.IntersectionObserverEntry && "isVisible" in IntersectionObserverEntry.prototype;
    var opt = { threshold: [0, 0.01, 0.5] };
    if (v2) { opt.trackVisibility = true; opt.delay = 100; }
    try {
      new IntersectionObserver(function (es) {
        var e = es[es.length - 1];
        tick();
        inView = e.isIntersecting && e.intersectionRatio > 0;
        if (v2) clear = !!e.isVisible;
        tick();
      }, opt).observe(d.documentElement);
    } catch (e) { inView = true; }
  } else inView = true;

  /* ---- trusted interactions: counts and time of the first */
  var acts = 0, first = null, lastScroll = -1e9;
  function act(e) {
    if (!e.isTrusted) return;
    var t = now();
    if (e.type === "scroll" || e.type === "wheel" || e.type === "pointermove") {
      if (t - lastScroll < 250) return;
      lastScroll = t;
    }
    acts++;
    if (first === null) first = t;
  }
  ["pointerdown", "pointermove", "touchstart", "keydown", "wheel", "scroll"].forEach(function (t) {
    w.addEventListener(t, act, { capture: true, passive: true });
  });

  /* ---- automation tells */
  var tells = [];
  function tell(x) { if (tells.indexOf(x) < 0) tells.push(x); }
  var ua = n.userAgent || "", ch = null, uad = n.userAgentData;
  if (n.webdriver) tell("webdriver");
  if (/HeadlessChrome|PhantomJS/.test(ua)) tell("headless_ua");
  if (uad && uad.brands) {
    ch = uad.brands.map(function (b) { return '"' + b.brand + '";v="' + b.version + '"'; }).join(", ");
    if (/Headless/i.test(ch)) tell("headless_ch");
  }
  if (w.outerWidth === 0 && w.outerHeight === 0) tell("headless_window");
  function has(o, k) { try { return k in o; } catch (e) { return false; } }
  var sel = "_selenium callSelenium _Selenium_IDE_Recorder __webdriver_script_fn __driver_evaluate " +
    "__webdriver_evaluate __selenium_evaluate __fxdriver_evaluate __driver_unwrapped " +
    "__webdriver_unwrapped __selenium_unwrapped __fxdriver_unwrapped domAutomation domAutomationController";
  sel.split(" ").forEach(function (k) { if (has(w, k) || has(d, k)) tell("selenium_vars"); });
  try {
    Object.keys(d).concat(Object.keys(w)).forEach(function (k) {
      if (/^\$[a-z]dc_|^\$wdc_|^cdc_/.test(k)) tell("selenium_vars");
      if (/^__pw|playwright/i.test(k)) tell("playwright_binding");
      if (/puppeteer/i.test(k)) tell("puppeteer_binding");
      if (/^__nightmare|^_WEBDRIVER_ELEM_CACHE/.test(k)) tell("automation_global");
    });
  } catch (e) {}
  if (has(w, "callPhantom") || has(w, "_phantom")) tell("phantom");
  if (n.plugins && n.plugins.length === 0) tell("no_plugins");
  if (!n.languages || !n.languages.length) tell("no_languages");
  else if (n.language && n.languages[0] !== n.language) tell("lang_mismatch");
  if (/Chrome\//.test(ua) && !/Mobile|Android/.test(ua) && !w.chrome) tell("no_chrome_obj");
  try { /* a DevTools-protocol client with Runtime enabled serialises console arguments */
    var probe = new Error(), hit = false;
    Object.defineProperty(probe, "stack", { get: function () { hit = true; return ""; } });
    console.debug(probe);
    if (hit) tell("cdp_runtime");
  } catch (e) {}
  try {
    var gl = d.createElement("canvas").getContext("webgl"), ext = gl && gl.getExtension("WEBGL_debug_renderer_info");
    if (ext && /SwiftShader/i.test(gl.getParameter(ext.UNMASKED_RENDERER_WEBGL))) tell("swiftshader");
  } catch (e) {}
  try {
    if (w.Notification && n.permissions) n.permissions.query({ name: "notifications" }).then(function (p) {
      if (Notification.permission === "denied" && p.state === "prompt") tell("permissions_mismatch");
    }, function () {});
  } catch (e) {}
  try { /* a worker sees the real user agent and platform; stealth kits often patch only the window */
    var src = "postMessage([navigator.userAgent,navigator.platform])";
    var wk = new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
    wk.onmessage = function (m) {
      if (m.data[0] !== ua) tell("worker_ua_mismatch");
      if (m.data[1] !== n.platform) tell("worker_platform_mismatch");
      wk.terminate();
    };
  } catch (e) {}

  /* ---- beacons */
  function client() {
    tick();
    var tz = null;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) {}
    return {
      framed: framed, frame_w: framed ? w.innerWidth : null, frame_h: framed ? w.innerHeight : null,
      viewport_w: w.innerWidth, viewport_h: w.innerHeight,
      screen_w: screen.width, screen_h: screen.height,
      visible_ms: visMs, dwell_ms: now(), interactions: acts, first_interaction_ms: first,
      webdriver: !!n.webdriver, tells: tells.slice(0, 32), tz: tz, lang: n.language || null,
      platform: n.platform || null, ch_ua: ch, ancestor_origins: ao, pv_id: pv
    };
  }
  function cut(s) { return s ? String(s).slice(0, 2000) : null; }
  function send(ev) {
    var b = {
      site: C.site, token: C.token, event: ev, url: cut(location.href), referrer: cut(d.referrer),
      vid: vid, seq: seq++, client: client()
    };
    var body = JSON.stringify(b), ok = false;
    try { ok = n.sendBeacon(base + "/b", new Blob([body], { type: "text/plain" })); } catch (e) {}
    if (!ok && w.fetch) {
      try {
        fetch(base + "/b", { method: "POST", body: body, keepalive: true, credentials: "omit",
          headers: { "content-type": "text/plain" } });
        ok = true;
      } catch (e) {}
    }
    if (!ok) {
      var q = [];
      for (var k in b) if (b[k] !== null) q.push(k + "=" + encodeURIComponent(k === "client" ? JSON.stringify(b[k]) : b[k]));
      new Image().src = base + "/b.gif?" + q.join("&");
    }
  }
  var beats = 0;
  setTimeout(function () { send("pageview"); }, 300);
  var hb = setInterval(function () {
    if (++beats > 40) return clearInterval(hb);
    send("heartbeat");
  }, 15000);
  var gone = false;
  function bye() { if (!gone) { gone = true; send("heartbeat"); } }
  w.addEventListener("pagehide", bye);
  w.qinglang = { flush: function () { send("heartbeat"); } };
})();
