/* Statement export: follows the CSV pages of the statement API (the next page is in the `Link`
 * header), shows how far it got, then hands the whole file to the browser as one download.
 * Without JavaScript the link still downloads the first page. */
(function () {
  "use strict";
  function nextLink(response) {
    var link = response.headers.get("Link") || "";
    var match = /<([^>]+)>;\s*rel="next"/.exec(link);
    return match ? match[1] : null;
  }
  document.querySelectorAll("[data-export]").forEach(function (button) {
    var state = button.closest(".card").querySelector("[data-export-state]");
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
      var parts = [], lines = 0, pages = 0;
      function fail(message) {
        button.removeAttribute("aria-busy");
        state.textContent = message;
        state.classList.add("error");
      }
      function fetchPage(url) {
        state.classList.remove("error");
        state.textContent = "Preparing your statement… " + lines + " lines so far (page " + (pages + 1) + ").";
        fetch(url, {credentials: "same-origin", headers: {Accept: "text/csv"}}).then(function (response) {
          if (!response.ok) throw new Error("status " + response.status);
          var next = nextLink(response);
          return response.text().then(function (text) {
            var rows = text.replace(/\r?\n$/, "").split(/\r?\n/);
            if (pages > 0) rows.shift(); // every page repeats the header row
            parts.push(rows.join("\r\n") + "\r\n");
            lines += pages > 0 ? rows.length : rows.length - 1;
            pages += 1;
            if (next) return fetchPage(next);
            var blob = new Blob(parts, {type: "text/csv"});
            var a = document.createElement("a");
            a.href = URL.createObjectURL(blob);
            a.download = button.getAttribute("download") || "statement.csv";
            document.body.appendChild(a);
            a.click();
            a.remove();
            button.removeAttribute("aria-busy");
            state.textContent = "Done: " + lines + " lines exported.";
          });
        }).catch(function () { fail("The export failed. Please try again."); });
      }
      fetchPage(button.href);
    });
  });
})();
