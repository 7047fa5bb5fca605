/* Ember & Oak: site search (client side) and a small first-party analytics beacon.
   The beacon posts to /collect: "pv" when the page is shown, "hb" at most every 3 s while the
   visitor moves the mouse, scrolls, touches or types, and "leave" when the page is hidden. */
(function () {
  "use strict";

  function send(kind, extra) {
    var body = JSON.stringify(Object.assign({
      k: kind, p: location.pathname + location.search, r: document.referrer || "",
      w: window.innerWidth, h: window.innerHeight, t: Date.now()
    }, extra || {}));
    if (navigator.sendBeacon) {
      navigator.sendBeacon("/collect", body);
    } else {
      fetch("/collect", { method: "POST", body: body, keepalive: true });
    }
  }

  var counts = { m: 0, s: 0, c: 0, k: 0, tc: 0 };
  var dirty = false;
  var maxScroll = 0;
  function bump(name) {
    return function () { counts[name] += 1; dirty = true; };
  }
  document.addEventListener("mousemove", bump("m"), { passive: true });
  document.addEventListener("click", bump("c"), { passive: true });
  document.addEventListener("keydown", bump("k"), { passive: true });
  document.addEventListener("touchstart", bump("tc"), { passive: true });
  window.addEventListener("scroll", function () {
    counts.s += 1; dirty = true;
    maxScroll = Math.max(maxScroll, window.scrollY + window.innerHeight);
  }, { passive: true });

  setInterval(function () {
    if (!dirty || document.visibilityState !== "visible") { return; }
    send("hb", { ev: counts, d: maxScroll });
    counts = { m: 0, s: 0, c: 0, k: 0, tc: 0 };
    dirty = false;
  }, 3000);

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { send("leave", { ev: counts, d: maxScroll }); }
  });

  send("pv");

  // client-side search over the index embedded in /search
  var idx = document.getElementById("index");
  if (idx) {
    var q = (new URLSearchParams(location.search).get("q") || "").trim();
    var items = JSON.parse(idx.textContent);
    var box = document.getElementById("q2");
    if (box) { box.value = q; }
    var words = q.toLowerCase().split(/\s+/).filter(Boolean);
    var hits = items.filter(function (it) {
      var text = (it.t + " " + it.d).toLowerCase();
      return words.length > 0 && words.some(function (w) { return text.indexOf(w) >= 0; });
    });
    if (hits.length === 0 && words.length > 0) { hits = items.slice(0, 3); }
    document.getElementById("summary").textContent = words.length === 0 ? "Type something to search."
      : hits.length + " result(s) for \u201c" + q + "\u201d";
    var ul = document.getElementById("results");
    hits.forEach(function (it) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = it.u; a.textContent = it.t;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" \u2014 " + it.d));
      ul.appendChild(li);
    });
  }
})();
