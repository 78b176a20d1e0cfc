/* Admin pages of long-running jobs (payout batches): while some progress bar is not full, fetch the
 * same page every few seconds and swap in the fresh results, with a visible "updating" state.
 * No inline script: this file is included by the admin templates that need it. */
(function () {
  "use strict";
  var INTERVAL_MS = 3000, MAX_POLLS = 200;
  var region = document.getElementById("result_list") || document.querySelector(".field-progress");
  if (!region) return;
  var state = document.createElement("p");
  state.className = "poll-state";
  state.setAttribute("role", "status");
  state.setAttribute("aria-live", "polite");
  region.parentNode.insertBefore(state, region);
  var polls = 0;

  function unfinished(root) {
    return Array.prototype.some.call(root.querySelectorAll("progress"), function (bar) {
      return Number(bar.value) < Number(bar.max);
    });
  }

  function tick() {
    if (!unfinished(region) || polls >= MAX_POLLS) {
      state.textContent = polls ? "Up to date." : "";
      return;
    }
    polls += 1;
    state.textContent = "Working… this page updates every " + INTERVAL_MS / 1000 + " seconds.";
    fetch(window.location.href, {credentials: "same-origin"}).then(function (response) {
      return response.ok ? response.text() : Promise.reject(response.status);
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var next = region.id ? fresh.getElementById(region.id) : fresh.querySelector(".field-progress");
      if (next) {
        region.replaceWith(next);
        region = next;
      }
      window.setTimeout(tick, INTERVAL_MS);
    }).catch(function () {
      state.textContent = "Could not refresh the progress; reload the page to try again.";
    });
  }
  window.setTimeout(tick, INTERVAL_MS);
  if (unfinished(region)) state.textContent = "Working… this page updates every " + INTERVAL_MS / 1000 + " seconds.";
})();
