/* Contact Center availability for a web page: shows the elements meant for the current status of one published
   check, e.g. a "Chat with us" button only while a representative is available.
     <script src="https://<app>/api/public/widget.js" data-alias="support" data-lang="fr" data-tz="Europe/Paris" async></script>
   data-availability-show="available busy closed unknown": hidden unless the status is listed (unknown: no answer
   yet, or an error). data-availability-text="message": the answer's field as text ("nextGoodTime": its sentence,
   asked for only when shown). data-availability-alias on an element or an ancestor keeps it for that alias's
   script. It asks again when the answer's max-age runs out (less the Age a shared cache gives its copy; at least
   once a minute), not while the page is hidden, only of the app it came from; it sets no style. */
(function () {
  "use strict";
  var script = document.currentScript;
  var alias = script && script.getAttribute("data-alias");
  if (!alias) return;
  var url = new URL("availability/" + encodeURIComponent(alias), script.src);
  var lang = script.getAttribute("data-lang") || document.documentElement.lang;
  var tz = script.getAttribute("data-tz");
  if (lang && /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(lang)) url.searchParams.set("lang", lang);
  if (tz) url.searchParams.set("tz", tz);
  var LEAST = 1, MOST = 60, AFTER_ERROR = 30; // seconds
  var timer = 0, due = 0, asking = false;

  function mine(element) {
    var scope = element.closest("[data-availability-alias]");
    return !scope || scope.getAttribute("data-availability-alias") === alias;
  }

  function texts() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-availability-text]"), mine);
  }

  function show(status, answer) {
    document.querySelectorAll("[data-availability-show]").forEach(function (element) {
      if (mine(element)) element.hidden = element.getAttribute("data-availability-show").split(/\s+/).indexOf(status) < 0;
    });
    texts().forEach(function (element) {
      var value = answer ? answer[element.getAttribute("data-availability-text")] : null;
      if (value && typeof value === "object") value = value.message;
      element.textContent = value === null || value === undefined ? "" : String(value);
    });
    document.dispatchEvent(new CustomEvent("availabilitychange", {detail: {alias: alias, status: status, answer: answer}}));
  }

  function wait(seconds) {
    due = Date.now() + seconds * 1000;
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(ask, seconds * 1000);
  }

  function ask() {
    if (asking) return;
    asking = true;
    // The browser's cache keeps the answer for its max-age and revalidates it with its ETag afterwards.
    fetch(url.href, {mode: "cors", credentials: "omit"}).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      var maxAge = /max-age=(\d+)/.exec(response.headers.get("Cache-Control") || "");
      // A CDN's copy may be old already: it runs out max-age - Age from now, when the app has a newer answer.
      var age = Number(response.headers.get("Age")) || 0;
      return response.json().then(function (answer) {
        show(answer.status, answer);
        wait(Math.min(MOST, Math.max(LEAST, maxAge ? Number(maxAge[1]) - age : MOST)));
      });
    }).catch(function () {
      show("unknown", null);
      wait(AFTER_ERROR);
    }).then(function () {
      asking = false;
    });
  }

  document.addEventListener("visibilitychange", function () {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(ask, Math.max(0, due - Date.now()));
  });

  function start() {
    if (texts().some(function (element) { return element.getAttribute("data-availability-text") === "nextGoodTime"; })) {
      url.searchParams.set("include", "nextGoodTime");
    }
    show("unknown", null);
    ask();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
