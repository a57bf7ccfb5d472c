// Dialtone console: live phone updates (Server-Sent Events) and the
// new-extension fields. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";
  var watch = document.querySelector("[data-events]");
  if (watch && window.EventSource) {
    var es = new EventSource(watch.getAttribute("data-events"));
    es.addEventListener("phone", function (ev) {
      var d = JSON.parse(ev.data);
      var tbody = document.getElementById("phone-rows");
      var row = document.getElementById("phone-" + d.mac);
      if (tbody) {
        if (d.match) {
          var t = document.createElement("tbody");
          t.innerHTML = d.row; // rendered and escaped by the server's html/template
          var nr = t.firstElementChild;
          if (row) { row.replaceWith(nr); } else { tbody.prepend(nr); }
          var empty = tbody.querySelector("tr.empty");
          if (empty) { empty.remove(); }
        } else if (row) {
          row.remove();
        }
      }
      document.querySelectorAll("[data-state-of]").forEach(function (e) {
        if (e.getAttribute("data-state-of") !== d.mac) { return; }
        e.textContent = d.deleted ? "deleted" : d.state;
        e.className = "badge state-" + (d.deleted ? "deleted" : d.state);
      });
    });
    document.body.setAttribute("data-live", "1");
  }
  // The new-extension fields matter only when "Create a new extension" is chosen.
  var sel = document.getElementById("extension");
  var fields = document.querySelector(".newext");
  if (sel && fields) {
    var sync = function () { fields.hidden = sel.value !== "new"; };
    sel.addEventListener("change", sync);
    sync();
  }
})();
