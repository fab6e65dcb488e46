// Live progress of the print runs on the queue page: each printer section being watched
// (data-watch) polls its JSON figures twice a second and shows them; when a run ends the
// page is loaded again, for its buttons. Without JavaScript the page refreshes itself.
(function () {
  "use strict";
  function watch(section) {
    var url = section.getAttribute("data-watch");
    function show(data) {
      ["printed", "spoiled", "in_doubt", "remaining", "state_text", "time_left"].forEach(function (key) {
        var el = section.querySelector('[data-field="' + key + '"]');
        if (el && data[key] !== undefined && data[key] !== null) { el.textContent = data[key]; }
      });
      var bar = section.querySelector('[data-field="bar"]');
      if (bar) { bar.max = data.total; bar.value = data.done; }
      var message = section.querySelector('[data-field="message"]');
      if (message && data.message) { message.textContent = data.message; message.classList.remove("hidden"); }
      var box = section.querySelector(".progress");
      if (box) { box.setAttribute("data-state", data.state); }
    }
    function poll() {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          show(data);
          if (data.active) { setTimeout(poll, 500); } else { setTimeout(function () { window.location.reload(); }, 700); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    }
    poll();
  }
  document.querySelectorAll("[data-watch]").forEach(watch);
})();
