// peaktrade dashboard: live updates over server-sent events; actions carry the bearer token typed in #token.
(function () {
  "use strict";
  var count = 0;
  window.__peaktrade = { updates: 0, alerts: 0 };
  document.body.addEventListener("htmx:configRequest", function (evt) {
    var t = document.getElementById("token").value;
    if (t) { evt.detail.headers["Authorization"] = "Bearer " + t; }
  });
  // show refusals (401/403/404/409) in the result line instead of dropping them — as text, never as HTML: the
  // detail may quote what the request carried (a run id in the URL)
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.xhr.status === 404 && evt.detail.target.id === "detail") {
      evt.detail.shouldSwap = true;  // the drill-down's "no such run" fragment (escaped by the server)
      evt.detail.isError = false;
    } else if (evt.detail.xhr.status >= 400) {
      evt.detail.shouldSwap = false;
      evt.detail.isError = false;
      var msg = evt.detail.xhr.responseText;
      try { msg = JSON.parse(msg).detail; } catch (e) { /* plain text */ }
      evt.detail.target.textContent = "refused (" + evt.detail.xhr.status + "): " + msg;
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail.requestConfig && evt.detail.requestConfig.verb === "post") { htmx.trigger("#runs", "refresh"); }
  });
  // drill down on a click anywhere in a run's row; listened to on #runs, which SSE refreshes never replace, so a
  // click is not lost on a row just swapped in (htmx wires a new row's own attributes only when it settles)
  document.getElementById("runs").addEventListener("click", function (evt) {
    var row = evt.target.closest("tr[data-detail]");
    if (row && !evt.target.closest("button")) { htmx.ajax("GET", row.getAttribute("data-detail"), { target: "#detail" }); }
  });
  var es = new EventSource("/events");
  es.addEventListener("hello", function () { document.getElementById("sse-state").textContent = "connected"; });
  es.addEventListener("update", function (msg) {
    var changed = JSON.parse(msg.data).runs || [];
    var open = document.querySelector("#detail .run-detail");
    if (open && changed.indexOf(open.getAttribute("data-run")) >= 0) { htmx.trigger(open, "refresh"); }
    count += 1;
    window.__peaktrade.updates = count;
    document.getElementById("sse-count").textContent = String(count);
    htmx.trigger("#runs", "refresh");
  });
  es.addEventListener("alert", function (msg) {
    var ev = JSON.parse(msg.data);
    var li = document.createElement("li");
    li.textContent = ev.wall + " " + ev.severity.toUpperCase() + " " + ev.kind + " " + ev.run_id + ": " + ev.message;
    document.getElementById("alerts").prepend(li);
    window.__peaktrade.alerts += 1;
  });
  es.onerror = function () { document.getElementById("sse-state").textContent = "reconnecting"; };
})();
