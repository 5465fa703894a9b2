// gistasks pages: the little that needs a script. No framework, no build step; every page
// works without it (times in UTC, forms post as they are), it only adds:
// times in the browser's zone, regions that refresh themselves, the schedule builder's
// preview, date inputs turned into epoch milliseconds.
"use strict";

(function () {
  function localTimes(root) {
    root.querySelectorAll("time[data-ms]").forEach(function (el) {
      var ms = Number(el.getAttribute("data-ms"));
      if (!isFinite(ms)) { return; }
      var d = new Date(ms);
      el.title = el.textContent;
      el.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
      });
    });
  }

  // An element with data-refresh="N" (and an id) is fetched again every N seconds and
  // replaced by its new self; it stops when the new self no longer asks to refresh.
  function refresher(el) {
    var seconds = Number(el.getAttribute("data-refresh"));
    if (!el.id || !(seconds > 0)) { return; }
    var timer = window.setTimeout(function again() {
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (text) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = doc.getElementById(el.id);
          if (!fresh) { return; }
          var focused = document.activeElement && el.contains(document.activeElement);
          el.innerHTML = fresh.innerHTML;
          localTimes(el);
          el.setAttribute("data-refreshed", String(Date.now()));
          if (focused) { el.focus(); }
          if (fresh.hasAttribute("data-refresh")) {
            timer = window.setTimeout(again, seconds * 1000);
          } else {
            el.removeAttribute("data-refresh");
          }
        })
        .catch(function () { timer = window.setTimeout(again, seconds * 2000); });
    }, seconds * 1000);
    return timer;
  }

  // The schedule builder: the cron fields of a form are sent to the server's preview as
  // you type; it answers the Quartz expression, the description and the next fires.
  function builder(form) {
    var out = form.querySelector("[data-schedule-output]");
    var url = form.getAttribute("data-preview");
    var scope = form.getAttribute("data-schedule");
    var names = ["minute", "hour", "dayOfMonth", "month", "dayOfWeek", "timeZone", "startDate", "endDate"];
    var pending = 0;
    function input(name) { return form.querySelector("[name='" + name + "']"); }
    function show(nodes) {
      out.textContent = "";
      nodes.forEach(function (n) { out.appendChild(n); });
    }
    function el(tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) { e.className = cls; }
      if (text !== undefined) { e.textContent = text; }
      return e;
    }
    function update() {
      var params = new URLSearchParams({ f: "json", scope: scope, count: "5" });
      var missing = false;
      names.forEach(function (n) {
        var i = input(n);
        if (i && i.value.trim() !== "") { params.set(n, i.value.trim()); }
        else if (names.indexOf(n) < 5) { missing = true; }
      });
      if (missing) {
        show([el("span", "muted", "Fill in the five cron fields to see the schedule.")]);
        return;
      }
      var mine = ++pending;
      fetch(url + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (mine !== pending) { return; }
          if (answer.error) {
            var details = (answer.error.details || []).join(" ");
            show([el("strong", "bad-text", answer.error.message), el("span", "", " " + details)]);
            return;
          }
          var list = el("ol", "fires");
          answer.nextStarts.forEach(function (ms, i) {
            var li = el("li");
            var t = el("time", "", answer.nextStartsText[i]);
            t.setAttribute("data-ms", String(ms));
            li.appendChild(t);
            list.appendChild(li);
          });
          localTimes(list);
          var expr = el("p", "expr");
          expr.appendChild(el("span", "", "Quartz: "));
          expr.appendChild(el("code", "cron-expression", answer.cronExpression));
          show([el("p", "cron-description", answer.description), expr,
                el("p", "muted", answer.nextStarts.length ? "Next fires:" : "It never fires."), list]);
        })
        .catch(function () { if (mine === pending) { show([el("span", "bad-text", "The preview is not available.")]); } });
    }
    var timer = 0;
    form.addEventListener("input", function (e) {
      if (names.indexOf(e.target.name) >= 0 || e.target.hasAttribute("data-epoch-target")) {
        window.clearTimeout(timer);
        timer = window.setTimeout(update, 150);
      }
    });
    form.querySelectorAll("button[data-preset]").forEach(function (b) {
      b.addEventListener("click", function () {
        var parts = b.getAttribute("data-preset").split(" ");
        names.slice(0, 5).forEach(function (n, i) { var f = input(n); if (f) { f.value = parts[i]; } });
        update();
      });
    });
    update();
  }

  // A datetime-local input fills the hidden field of epoch milliseconds the API reads.
  function epochInputs(root) {
    root.querySelectorAll("input[data-epoch-target]").forEach(function (i) {
      var target = document.getElementById(i.getAttribute("data-epoch-target"));
      if (!target) { return; }
      if (target.value && isFinite(Number(target.value)) && Number(target.value) > 0) {
        var d = new Date(Number(target.value));
        var local = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
        i.value = local.toISOString().slice(0, 16);
      }
      i.addEventListener("input", function () {
        var ms = Date.parse(i.value);
        target.value = isFinite(ms) ? String(ms) : "";
        target.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    epochInputs(document);
    document.querySelectorAll("[data-refresh]").forEach(refresher);
    document.querySelectorAll("form[data-schedule]").forEach(builder);
  });
})();
