/* safety-bot "protect my pictures" page. Pictures are read and hashed here, in the browser
 * (hash.js); only the hash strings below and the link's token are ever sent, to this same site. */
(function () {
  "use strict";
  var MAX_FILES = 20;
  var T = JSON.parse(document.getElementById("texts").textContent);
  var token = (location.hash || "").replace(/^#/, "");
  var items = [];
  var $ = function (id) { return document.getElementById(id); };

  // The token stays in memory only: off the address bar (and out of history and screenshots).
  if (token && history.replaceState) history.replaceState(null, "", location.pathname + location.search);

  function say(text, isError) {
    var s = $("status");
    s.textContent = text || "";
    s.className = isError ? "error" : "";
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? String(values[k]) : m; });
  }

  async function post(path, body) {
    var res = await fetch(path + location.search, {  // ?lang=.. : answers in the page's language
      method: "POST", credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    var data = {};
    try { data = await res.json(); } catch (e) { data = {}; }
    if (!data.message) data.message = T.network_error;
    data.ok = res.ok && data.ok === true;
    return data;
  }

  function linesOf(item) {
    if (item.video_md5) return ["video_md5 " + item.video_md5];
    return ["pdq " + item.pdq, "quality " + item.quality, "md5 " + item.md5];
  }

  function codeLine(parent, text) {
    var code = document.createElement("code");
    code.textContent = text;
    code.className = "hash";
    parent.appendChild(code);
  }

  function showReview(skipped) {
    var list = $("hashes");
    list.textContent = "";
    items.forEach(function (item) {
      var li = document.createElement("li");
      linesOf(item).forEach(function (line) { codeLine(li, line); });
      if (item.variants && item.variants.length) {  // shown too: everything sent is on the screen
        var more = document.createElement("details"), summary = document.createElement("summary");
        summary.textContent = fill(T.variants, { count: item.variants.length });
        more.appendChild(summary);
        item.variants.forEach(function (v) { codeLine(more, "variant " + v); });
        li.appendChild(more);
      }
      list.appendChild(li);
    });
    $("skipped").textContent = skipped ? fill(T.skipped, { count: skipped }) : "";
    $("review").hidden = items.length === 0;
    $("send").disabled = items.length === 0;
    say(items.length ? fill(T.ready, { count: items.length }) : T.nothing_readable, !items.length);
  }

  async function picked(files) {
    files = Array.prototype.slice.call(files || []);
    if (!files.length) return;
    if (files.length > MAX_FILES) { say(fill(T.too_many, { max: MAX_FILES }), true); return; }
    items = [];
    $("review").hidden = true;
    var skipped = 0;
    for (var i = 0; i < files.length; i++) {
      say(fill(T.working, { n: i + 1, total: files.length }));
      try {
        var h = await window.SafetyBotHash.hashFile(files[i]);
        items.push(h.kind === "video" ? { video_md5: h.md5 }
                                      : { pdq: h.pdq, quality: h.quality, md5: h.md5, variants: h.variants });
      } catch (e) {
        skipped++;
      }
    }
    $("files").value = "";  // the browser lets go of the files
    showReview(skipped);
  }

  async function send() {
    $("send").disabled = true;
    say(T.sending);
    var res = await post("protect/submit", { token: token, items: items });
    if (!res.ok) { say(res.message, true); $("send").disabled = false; return; }
    items = [];
    $("review").hidden = true;
    $("pick").hidden = true;
    $("done").hidden = false;
    $("done-text").textContent = res.message;
    say("");
  }

  async function start() {
    if (!token) { say(T.no_token, true); return; }
    say(T.checking);
    var res = await post("protect/check", { token: token });
    if (!res.ok) { say(res.message, true); return; }
    say("");
    $("pick").hidden = false;
  }

  $("files").addEventListener("change", function (e) { picked(e.target.files); });
  $("send").addEventListener("click", send);
  $("again").addEventListener("click", function () { items = []; $("review").hidden = true; say(""); $("files").click(); });
  start();
})();
