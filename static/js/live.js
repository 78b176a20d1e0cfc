// A live stream page: follow the gift feed (cursor polling) and let the creator end the stream.
(function () {
  "use strict";
  const feed = document.getElementById("gift-feed");
  if (!feed) return;
  const stream = feed.dataset.stream;
  let cursor = null; // none yet: the first call gets the newest gifts, then we follow
  let live = true;
  // The feed sends its newest few seconds again on each call (so a gift that commits a moment
  // late is not skipped): show each gift once.
  const shown = new Set();
  const SHOWN_MAX = 200;

  async function poll() {
    let again = false;
    try {
      const query = cursor === null ? "" : `?after=${cursor}`;
      const response = await fetch(`/api/v1/live-streams/${stream}/feed/${query}`);
      if (response.ok) {
        const data = await response.json();
        data.results.slice().reverse().forEach((item) => {
          if (shown.has(item.id)) return;
          shown.add(item.id);
          const li = document.createElement("li");
          const img = document.createElement("img");
          img.src = item.icon;
          img.alt = "";
          img.width = 24;
          img.height = 24;
          li.appendChild(img);
          li.appendChild(document.createTextNode(` ${item.fan} sent ${item.quantity} × ${item.gift}`));
          feed.insertBefore(li, feed.firstChild);
        });
        if (data.results.length) document.getElementById("feed-empty").hidden = true;
        // A long stream must not grow the page without end: keep the newest SHOWN_MAX gifts, and
        // remember only ids the feed can still send again (those after the cursor).
        while (feed.children.length > SHOWN_MAX) feed.removeChild(feed.lastChild);
        again = data.more && data.cursor !== cursor; // a burst: catch up at once
        cursor = data.cursor;
        shown.forEach((id) => { if (id <= cursor) shown.delete(id); });
        live = data.is_live;
        if (!live) {
          const badge = document.getElementById("live-badge");
          badge.textContent = "Ended";
          badge.classList.add("ended");
        }
      }
    } finally {
      if (live) setTimeout(poll, again ? 0 : 1500);
    }
  }
  poll();

  const end = document.getElementById("end-stream");
  if (end) {
    end.addEventListener("click", async () => {
      end.disabled = true;
      const response = await fetch(`/api/v1/live-streams/${stream}/end/`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": CreatorNextPay.csrfToken() },
        body: "{}",
      });
      if (response.ok) {
        end.hidden = true;
        live = false;
        const badge = document.getElementById("live-badge");
        badge.textContent = "Ended";
        badge.classList.add("ended");
      } else {
        end.disabled = false;
      }
    });
  }
})();
