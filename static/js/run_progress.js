// The run page's live progress: polls the run's status and updates the bar and the counts,
// then reloads the page once the run has finished (the server renders the final state).
// Without JavaScript the page refreshes itself instead (a <noscript> meta refresh).
(function () {
  "use strict";

  var POLL_MS = 1500;
  var RETRY_MS = 5000;
  var MAX_FAILURES = 3;

  var root = document.querySelector("[data-run-status-url]");
  if (!root) {
    return;
  }
  var url = root.getAttribute("data-run-status-url");
  var bar = root.querySelector("[data-run-progress]");
  var state = root.querySelector("[data-run-state]");
  var failures = 0;

  function show(status) {
    if (state && status.state_label) {
      state.textContent = status.state_label;
    }
    if (bar) {
      if (status.percent > 0) {
        bar.value = status.percent;
        bar.textContent = status.percent + "%";
      } else {
        bar.removeAttribute("value"); // indeterminate until a share of the file is known
      }
    }
    ["read", "added", "already_present", "rejected"].forEach(function (name) {
      var cell = root.querySelector('[data-run-count="' + name + '"]');
      if (cell && typeof status[name] === "number") {
        cell.textContent = String(status[name]);
      }
    });
  }

  function poll() {
    // A redirect means the session ended (login page): it counts as a failure, not as JSON.
    fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        failures = 0;
        show(status);
        if (status.finished) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        failures += 1;
        if (failures >= MAX_FAILURES) {
          window.location.reload(); // the server says what is wrong (signed out, run gone)
          return;
        }
        window.setTimeout(poll, RETRY_MS);
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
